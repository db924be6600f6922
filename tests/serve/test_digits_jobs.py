"""DIGITS' job routes on a real server: datasets and models made, queued, followed, aborted,
resumed and deleted over HTTP, with DIGITS' status words; the origin, host and token guard."""

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

import serving

WORDS = {"Initialized", "Waiting", "Running", "Done", "Aborted", "Error"}
ROOT = serving.ROOT


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return serving.write_digit_lists(str(tmp_path_factory.mktemp("mnist")))


class Site:
    def __init__(self, server, jobs_dir, data):
        self.server, self.jobs_dir, self.data = server, jobs_dir, data

    def url(self, route):
        return self.server.url + route

    def get(self, route):
        return serving.call(self.url(route))

    def post(self, route, fields=None, files=None, headers=None, method=None):
        return serving.call(self.url(route), fields or {}, files, method=method,
                            headers=headers)

    def wait(self, route, until, timeout=240):
        """Poll GET route until until(answer) holds; the answers' statuses seen, in order."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, answer = self.get(route)
            assert status == 200, answer
            if not seen or seen[-1] != answer["status"]:
                seen.append(answer["status"])
            if until(answer):
                return seen
            if answer["status"] == "Error":
                break
            time.sleep(0.3)
        raise AssertionError(f"{route}: {seen} ({answer.get('message')})\n{self.server.log()}")

    def new_dataset(self, wait=True, **fields):
        """A list dataset's id, once it is Done (wait) or at once, while it is queued."""
        form = {"dataset_name": "digits", "method": "list", "list_file": "train.txt",
                "val_list_file": "val.txt", "image_count": "320", "val_image_count": "64",
                "positive_fraction": "0.5", "seed": "0", **fields}
        status, answer = self.post("/datasets/images/generic.json", form)
        assert status == 200 and answer["status"] == "Initialized", answer
        if wait:
            self.wait(f"/datasets/{answer['id']}.json", lambda a: a["status"] == "Done")
        return answer["id"]

    def new_model(self, on, network=None, **fields):
        with open(os.path.join(ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
            text = network if network is not None else f.read()
        form = {"model_name": "siamese", "dataset": on, "method": "custom",
                "custom_network": text, "train_epochs": "2", "batch_size": "32",
                "learning_rate": "0.01", "solver_type": "SGD", "lr_policy": "fixed",
                "random_seed": "1", "select_gpu": "cpu", "username": "tester", **fields}
        return self.post("/models/images/generic.json", form)


def start(jobs_dir, data, log_dir):
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data], log_dir)
    return Site(server, str(jobs_dir), data)


@pytest.fixture(scope="module")
def site(data_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("digits-jobs")
    jobs_dir = base / "jobs"
    jobs_dir.mkdir()
    running = start(jobs_dir, data_root, base / "logs")
    yield running
    assert running.server.stop() == 0, running.server.log()


@pytest.fixture(scope="module")
def dataset_id(site):
    return site.new_dataset()


def test_dataset_from_a_list_has_digits_answers(site, dataset_id):
    status, doc = site.get(f"/datasets/{dataset_id}.json")
    assert status == 200 and doc["status"] == "Done" and doc["name"] == "digits"
    assert {"id", "name", "status", "directory"} <= set(doc)
    assert doc["train_pairs"] == 320 and doc["val_pairs"] == 64
    assert doc["positive_fraction"]["train"] == 0.5
    status, text = site.get(f"/datasets/{dataset_id}/status")
    assert status == 200 and text["status"] == "Done" and text["error"] is None
    assert text["type"] == "Generic Image Dataset"


def test_prebuilt_lmdbs_are_registered_with_their_mean(site, dataset_id):
    folder = os.path.join(site.jobs_dir, dataset_id, "dataset")
    copy = os.path.join(site.data, "prebuilt")
    shutil.copytree(folder, copy, dirs_exist_ok=True)
    fields = {"dataset_name": "prebuilt", "prebuilt_train_images": "prebuilt/train_images",
              "prebuilt_train_labels": "prebuilt/train_labels",
              "prebuilt_val_images": "prebuilt/val_images",
              "prebuilt_val_labels": "prebuilt/val_labels"}
    status, answer = site.post("/datasets/images/generic.json", fields)
    assert status == 200, answer
    site.wait(f"/datasets/{answer['id']}.json", lambda a: a["status"] == "Done")
    doc = site.get(f"/datasets/{answer['id']}.json")[1]
    assert doc["train_pairs"] == 320 and doc["positive_fraction"]["train"] == 0.5
    from siamese_caffe.data import mean_files
    ours = mean_files.read_binaryproto(os.path.join(doc["directory"], "dataset",
                                                    "train_mean.binaryproto"))
    made = mean_files.read_binaryproto(os.path.join(folder, "train_mean.binaryproto"))
    np.testing.assert_allclose(ours, made, atol=1e-3)
    status, answer = site.post("/datasets/images/generic.json",
                               {**fields, "prebuilt_train_images": "/etc"})
    assert status == 400 and "outside" in answer["errors"]["prebuilt_train_images"][0]
    assert site.post(f"/datasets/{doc['id']}", method="DELETE")[0] == 200


def test_a_model_trains_to_done_and_answers_as_digits(site, dataset_id, tmp_path):
    status, created = site.new_model(dataset_id)
    assert status == 200, created
    assert created["status"] == "Initialized"                   # as DIGITS answered
    job_id = created["id"]
    seen = site.wait(f"/models/{job_id}.json", lambda a: a["status"] == "Done")
    assert set(seen) <= {"Waiting", "Running", "Done"} and seen[-1] == "Done", seen
    status, doc = site.get(f"/models/{job_id}.json")
    assert doc["snapshots"] == [1.0, 2.0] and doc["dataset_id"] == dataset_id
    assert doc["username"] == "tester" and doc["name"] == "siamese"
    for key in ("job id", "creation time", "image dimensions", "mean file", "snapshot file",
                "framework", "deploy file", "directory"):
        assert key in doc
    assert doc["image dimensions"] == [28, 28, 3]
    index = site.get("/index.json")[1]
    assert job_id in [m["id"] for m in index["models"]]
    assert dataset_id in [d["id"] for d in index["datasets"]]
    completed = site.get("/completed_jobs.json")[1]
    item = next(m for m in completed["models"] if m["id"] == job_id)
    assert item["status"] == "Done" and item["progress"] == 100 and item["type"] == "model"
    assert "loss (val) last" in completed["model_output_fields"]
    status, text = site.get(f"/models/{job_id}/status")
    assert status == 200 and text == {"error": None, "status": "Done", "name": "siamese",
                                      "type": "Generic Image Model"}
    assert site.post(f"/jobs/{job_id}", {"job_name": "twin"}, method="PUT") == \
        (200, "Generic Image Model updated.")
    assert site.get(f"/models/{job_id}.json")[1]["name"] == "twin"
    site.post(f"/jobs/{job_id}", {"job_name": "siamese"}, method="PUT")
    assert site.get("/models/no-such-job/status")[1] == {"error": "Job not found."}
    with open(os.path.join(site.data, "val.txt"), "rb") as f:
        status, many = serving.call(site.url(f"/models/images/generic/infer_many.json"
                                             f"?job_id={job_id}"), {},
                                    {"image_list": ("val.txt", f.read())})
    assert status == 200 and len(many["outputs"]) == 60


@pytest.mark.parametrize("fields, field, words", [
    ({"train_epochs": "zero"}, "train_epochs", "Not a valid integer"),
    ({"dataset": "no-such-dataset"}, "dataset", "Not a valid choice"),
    ({"batch_size": "60000"}, "batch_size", "more than the training set"),
    ({"batch_size": "100000"}, "batch_size", "from 1 to 65,536"),
    ({"train_epochs": "1" + "0" * 20}, "train_epochs", "between 1 and"),
    ({"random_seed": "1" + "0" * 30}, "random_seed", "between 0 and"),
    ({"method": "standard"}, "method", "custom"),
    ({"learning_rate": "0.01,fast"}, "learning_rate", "Not a comma list of numbers"),
    ({"batch_size": "32,60000"}, "batch_size", "more than the training set"),
    ({"crop_size": "29"}, "crop_size", "larger than the dataset's 28 x 28 images"),
    ({"use_mean": "median"}, "use_mean", "Not a valid choice"),
    ({"batch_accumulation": "0"}, "batch_accumulation", "Not a whole number"),
    ({"select_gpu_count": "2"}, "select_gpu_count", "multi-GPU training is not supported"),
    ({"select_gpus_list": "0,1"}, "select_gpus_list", "multi-GPU training is not supported"),
    ({"custom_network_snapshot": "/etc/passwd"}, "custom_network_snapshot", "/etc/passwd"),
    ({"method": "previous", "previous_networks": "no-such-model"}, "previous_networks",
     "Not a valid choice"),
    ({"custom_network": "layer { name: 'a' type: 'Power' \n bottom: 'data' top 'x' }"},
     "custom_network", "line 2"),
    ({"custom_network": "CHANGE"}, "custom_network", "line 1"),
])
def test_a_bad_field_is_refused_before_any_job_is_made(site, dataset_id, fields, field, words):
    before = set(os.listdir(site.jobs_dir))
    if fields.get("custom_network") == "CHANGE":
        with open(os.path.join(ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
            text = f.read()
        fields = {"custom_network": "layer { name: \"feed\" type: \"Data\" top: \"data\" "
                                    "data_param { source: \"/etc\" } }\n" + text}
    status, answer = site.new_model(dataset_id, **fields)
    assert status == 400, answer
    assert field in answer["errors"], answer
    assert words in " ".join(answer["errors"][field]), answer
    assert set(os.listdir(site.jobs_dir)) == before


def test_a_python_layer_from_a_form_is_refused(site, dataset_id):
    with open(os.path.join(ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
        text = f.read()
    extra = ('\nlayer {\n  name: "code"\n  type: "Python"\n  bottom: "feat_left"\n'
             '  top: "spy"\n  python_param { module: "os" layer: "x" }\n}\n')
    status, answer = site.new_model(dataset_id, network=text + extra)
    assert status == 400
    message = answer["errors"]["custom_network"][0]
    assert "Python" in message and f"line {len(text.splitlines()) + 3}" in message


def test_abort_snapshots_resume_continues_delete_waits(site, dataset_id):
    status, created = site.new_model(dataset_id, train_epochs="200", snapshot_interval="1")
    assert status == 200, created
    job_id = created["id"]
    route = f"/models/{job_id}.json"
    site.wait(route, lambda a: a["status"] == "Running" and a["snapshots"])
    status, text = site.post(f"/models/{job_id}", method="DELETE")
    assert status == 403 and "running" in text["error"]["description"]
    status, text = site.post(f"/models/{job_id}/abort")
    assert status == 200 and text == "Job aborted."
    site.wait(route, lambda a: a["status"] == "Aborted")
    stopped = site.get(route)[1]
    assert stopped["snapshot_iterations"][-1] >= 10
    assert site.post(f"/models/{job_id}/abort")[0] == 403          # DIGITS: not running
    status, text = site.post(f"/models/{job_id}/resume")
    assert status == 200
    site.wait(route, lambda a: a["status"] == "Running"
              and a["snapshot_iterations"][-1] > stopped["snapshot_iterations"][-1])
    assert site.post(f"/jobs/{job_id}/abort")[0] == 200
    site.wait(route, lambda a: a["status"] == "Aborted")
    assert site.post(f"/models/{job_id}", method="DELETE") == (200, "Job deleted.")
    assert site.get(route)[0] == 404 and not os.path.exists(os.path.join(site.jobs_dir, job_id))


def test_a_trainer_killed_by_a_signal_shows_error_at_once_and_the_server_goes_on(
        site, dataset_id):
    """The training process (Caffe's, a child of the queued command) dies of SIGKILL: the
    job is Error with the signal in its message, and the server answers as before."""
    import signal

    created = site.new_model(dataset_id, train_epochs="200")[1]
    job_id = created["id"]
    route = f"/models/{job_id}.json"
    site.wait(route, lambda a: a["status"] == "Running")
    job_file = os.path.join(site.jobs_dir, job_id, "job.json")

    def trainer_pid():
        with open(job_file) as f:
            return json.load(f).get("pid")
    deadline = time.monotonic() + 120
    while not trainer_pid() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(trainer_pid(), signal.SIGKILL)
    site.wait(route, lambda a: a["status"] == "Error")
    with open(job_file) as f:
        info = json.load(f)
    assert info["status"] == "failed" and "signal 9 (SIGKILL)" in info["message"], info
    assert site.get("/healthz")[0] == 200
    assert site.post(f"/models/{job_id}", method="DELETE") == (200, "Job deleted.")


def test_one_job_at_a_time_per_device_and_waiting_jobs_abort(site, dataset_id):
    first = site.new_model(dataset_id, train_epochs="200")[1]["id"]
    second = site.new_model(dataset_id, train_epochs="200")[1]["id"]
    site.wait(f"/models/{first}.json", lambda a: a["status"] == "Running")
    assert site.get(f"/models/{second}.json")[1]["status"] == "Waiting"
    assert site.post(f"/models/{second}/abort")[0] == 200
    assert site.get(f"/models/{second}.json")[1]["status"] == "Aborted"
    assert site.post(f"/models/{first}/abort")[0] == 200
    site.wait(f"/models/{first}.json", lambda a: a["status"] == "Aborted")
    status, text = site.post("/jobs", {"job_ids[]": second}, method="DELETE")
    assert status == 200 and text == "Jobs deleted."


def test_a_model_on_a_dataset_still_being_built_waits_then_trains(site):
    dataset = site.new_dataset(wait=False)          # queued: create-db has not run yet
    page = site.get("/models/images/generic/new")[1]
    assert f"({dataset}) (running" in page
    status, made = site.new_model(dataset, train_epochs="1")
    assert status == 200, made
    model = made["id"]
    assert site.get(f"/models/{model}/status")[1]["status"] == "Waiting"
    listed = {m["id"]: m["status"] for m in site.get("/index.json")[1]["models"]}
    assert listed[model] == "Waiting"
    too_big = site.new_model(dataset, crop_size="29")[1]["id"]     # checked once it is built
    aborted = site.new_model(dataset)[1]["id"]
    assert site.post(f"/models/{aborted}/abort")[0] == 200
    assert site.get(f"/models/{aborted}.json")[1]["status"] == "Aborted"
    deleted = site.new_model(dataset)[1]["id"]
    assert site.post(f"/models/{deleted}", method="DELETE")[0] == 200
    assert site.get(f"/models/{deleted}.json")[0] == 404
    seen = site.wait(f"/models/{model}.json", lambda a: a["status"] == "Done")
    assert seen[0] == "Waiting" and site.get(f"/models/{model}.json")[1]["snapshots"]
    doc = site.wait(f"/models/{too_big}.json", lambda a: a["status"] == "Error") and \
        site.get(f"/models/{too_big}.json")[1]
    assert doc["message"] == (f"dataset {dataset} is built, but the model does not fit it: "
                              "crop_size: a 29 x 29 crop is larger than the dataset's 28 x 28 "
                              "images")


def test_a_model_on_a_dataset_that_fails_becomes_error(site):
    with open(os.path.join(site.data, "train.txt")) as f:
        lines = f.readlines()
    with open(os.path.join(site.data, "broken.txt"), "w") as f:   # a bad path, late in the list
        f.writelines(lines[:-5] + ["train/3/no-such-image.png 3\n"] + lines[-5:])
    dataset = site.new_dataset(wait=False, list_file="broken.txt")
    status, made = site.new_model(dataset)
    assert status == 200, made
    seen = site.wait(f"/models/{made['id']}.json", lambda a: a["status"] in ("Error", "Done"))
    doc = site.get(f"/models/{made['id']}.json")[1]
    failed = site.get(f"/datasets/{dataset}.json")[1]
    assert seen == ["Waiting", "Error"] and failed["status"] == "Error"
    assert doc["message"] == f"dataset {dataset} failed: {failed['message']}"
    assert "no-such-image.png" in doc["message"]


def test_a_dataset_in_use_is_not_deleted(site, dataset_id):
    status, answer = site.post(f"/datasets/{dataset_id}", method="DELETE")
    assert status == 403 and "depend" in answer["error"]["description"]


def test_cross_origin_and_rebinding_requests_are_refused(site, dataset_id):
    fields = {"dataset_name": "evil", "method": "list", "list_file": "train.txt"}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/page"}, {"Sec-Fetch-Site": "cross-site"}):
        status, answer = site.post("/datasets/images/generic.json", fields, headers=headers)
        assert status == 403 and "cross-origin" in answer["error"]["description"], headers
    own = site.server.url
    status, answer = site.post("/datasets/images/generic.json", {"dataset_name": ""},
                               headers={"Origin": own})
    assert status == 400                                   # same origin: passes the guard
    status, answer = serving.call(site.url("/index.json"), headers={"Host": "evil.example"})
    assert status == 403 and "Host" in answer["error"]["description"]
    port = own.rsplit(":", 1)[1]
    curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST",
                           "-H", "Origin: http://evil.example", "-F", "job_id=x",
                           f"127.0.0.1:{port}/models/{dataset_id}/abort"],
                          capture_output=True, text=True, env=serving.clean_env(), timeout=60)
    assert curl.stdout == "403"


def test_the_curl_walkthrough_script(site, tmp_path):
    env = serving.clean_env(SERVER=site.server.url, MNIST=site.data, PAIRS="320",
                            VAL_PAIRS="64", EPOCHS="1", BATCH="32")
    done = subprocess.run(["sh", os.path.join(ROOT, "tests", "serve", "digits_walkthrough.sh")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr + site.server.log()
    assert "Done" in done.stdout and "predictions.txt: 240 images" in done.stdout
    with open(os.path.join(site.data, "predictions.txt")) as f:
        assert len(json.load(f)["outputs"]) == 240


def test_restart_shows_stopped_jobs_as_aborted_and_resumable(data_root, tmp_path,
                                                             tiny_job):
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir()
    shutil.copytree(tiny_job.path, jobs_dir / tiny_job.job_id)     # made by `train`
    first = start(jobs_dir, data_root, tmp_path / "logs1")
    try:
        dataset = first.new_dataset()
        job_id = first.new_model(dataset, train_epochs="200")[1]["id"]
        first.wait(f"/models/{job_id}.json", lambda a: a["status"] == "Running"
                   and a["snapshots"])
        index = first.get("/index.json")[1]
        assert tiny_job.job_id in [m["id"] for m in index["models"]]
    finally:
        assert first.server.stop() == 0, first.server.log()
    second = start(jobs_dir, data_root, tmp_path / "logs2")
    try:
        doc = second.get(f"/models/{job_id}.json")[1]
        assert doc["status"] == "Aborted" and doc["snapshots"]
        assert second.get(f"/models/{tiny_job.job_id}.json")[1]["status"] == "Done"
        assert second.post(f"/models/{job_id}/resume")[0] == 200
        second.wait(f"/models/{job_id}.json", lambda a: a["status"] == "Running")
        assert second.post(f"/models/{job_id}/abort")[0] == 200
        second.wait(f"/models/{job_id}.json", lambda a: a["status"] == "Aborted")
    finally:
        assert second.server.stop() == 0, second.server.log()


def test_policy_parameters_reach_the_solver(site, dataset_id):
    status, created = site.new_model(dataset_id, train_epochs="4", lr_policy="multistep",
                                     lr_multistep_values="25,50", lr_multistep_gamma="0.3",
                                     solver_type="NESTEROV", learning_rate="0.02")
    assert status == 200, created
    from siamese_caffe.runtime import prototxt
    solver = prototxt.read_solver(os.path.join(site.jobs_dir, created["id"], "solver.prototxt"))
    assert solver.lr_policy == "multistep" and list(solver.stepvalue) == [10, 20]
    assert abs(solver.gamma - 0.3) < 1e-6 and solver.type == "Nesterov"
    assert abs(solver.base_lr - 0.02) < 1e-9
    site.wait(f"/models/{created['id']}.json", lambda a: a["status"] == "Done")
