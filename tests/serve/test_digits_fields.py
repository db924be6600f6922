"""Every field of DIGITS' generic dataset and model forms is honoured or refused with a 400
naming it (the sheet: docs/rest-api.md); the fields `train` has options for reach the
job's files over REST (docs/digits-fields.md)."""

import json
import os
import subprocess

import pytest

import serving
from siamese_caffe.runtime import devices, prototxt
from siamese_caffe.serve import modelfields
from siamese_caffe.train import jobs

ROOT = serving.ROOT

# DIGITS 6.1.1's generic image dataset and model form fields (docs/rest-api.md)
SHEET_DATASET = ["dataset_name", "group_name", "method", "prebuilt_train_images",
                 "prebuilt_train_labels", "prebuilt_val_images", "prebuilt_val_labels",
                 "prebuilt_mean_file", "force_same_shape", "encoding", "resize_channels",
                 "resize_width", "resize_height", "resize_mode", "clone"]
SHEET_MODEL = [
    "model_name", "group_name", "dataset", "framework", "method", "custom_network",
    "custom_network_snapshot", "previous_networks", "pretrained_networks",
    "python_layer_from_client", "python_layer_client_file", "python_layer_server_file",
    "train_epochs", "snapshot_interval", "val_interval", "traces_interval", "random_seed",
    "batch_size", "batch_accumulation", "learning_rate", "solver_type", "rms_decay",
    "lr_policy", "lr_step_size", "lr_step_gamma", "lr_multistep_values",
    "lr_multistep_gamma", "lr_exp_gamma", "lr_inv_gamma", "lr_inv_power", "lr_poly_power",
    "lr_sigmoid_step", "lr_sigmoid_gamma", "crop_size", "use_mean", "aug_flip",
    "aug_quad_rot", "aug_rot", "aug_scale", "aug_noise", "aug_contrast", "aug_whitening",
    "aug_hsv_use", "aug_hsv_h", "aug_hsv_s", "aug_hsv_v", "shuffle", "select_gpu",
    "select_gpu_count", "select_gpus", "select_gpus_list"]
# a value each field not honoured might be sent with (DIGITS accepted all of these)
OTHER_VALUE = {"encoding": "jpg", "resize_channels": "1", "resize_width": "28",
               "resize_height": "28", "resize_mode": "crop", "clone": "20151203-082705-7ad6",
               "pretrained_networks": "20151203-082705-7ad6",
               "python_layer_from_client": "1", "python_layer_client_file": "layer.py",
               "python_layer_server_file": "/srv/layer.py", "traces_interval": "1",
               "aug_flip": "fliplr", "aug_quad_rot": "rot90", "aug_rot": "10",
               "aug_scale": "0.1", "aug_noise": "0.1", "aug_contrast": "1",
               "aug_whitening": "1", "aug_hsv_use": "1", "aug_hsv_h": "0.1",
               "aug_hsv_s": "0.1", "aug_hsv_v": "0.1", "shuffle": "1"}


def network_text():
    with open(os.path.join(ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
        return f.read()


class Site:
    def __init__(self, server, jobs_dir, data):
        self.server, self.jobs_dir, self.data = server, jobs_dir, data

    def post(self, route, fields):
        return serving.call(self.server.url + route, fields)

    def get(self, route):
        return serving.call(self.server.url + route)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("digits-fields")
    data = serving.write_digit_lists(str(base / "mnist"))
    jobs_dir = base / "jobs"
    jobs_dir.mkdir()
    server = serving.start_server(["--jobs-dir", str(jobs_dir), "--data-root", data],
                                  base / "logs")
    yield Site(server, str(jobs_dir), data)
    assert server.stop() == 0, server.log()


def test_the_sheet_is_classified_field_by_field():
    assert list(modelfields.DATASET_FIELDS) == SHEET_DATASET
    assert sorted(modelfields.MODEL_FIELDS) == sorted(SHEET_MODEL)


@pytest.mark.parametrize("kind, sheet", [("datasets", modelfields.DATASET_FIELDS),
                                         ("models", modelfields.MODEL_FIELDS)])
def test_every_field_not_honoured_is_a_400_naming_it(site, kind, sheet):
    before = set(os.listdir(site.jobs_dir))
    walked = 0
    for field, (what, defaults, why) in sheet.items():
        if what == modelfields.HONOURED:
            continue
        form = {"username": "tester", field: OTHER_VALUE[field]}
        status, answer = site.post(f"/{kind}/images/generic.json", form)
        assert status == 400 and field in answer["errors"], (field, answer)
        assert why in " ".join(answer["errors"][field]), (field, answer)
        walked += 1
    assert walked >= (10 if kind == "models" else 6)
    assert set(os.listdir(site.jobs_dir)) == before


def test_the_new_model_form_lists_only_devices_that_exist(site):
    status, page = site.get("/models/new")
    assert status == 200
    for device, name in devices.available():
        assert f'value="{"cpu" if device is None else device}"' in page and name in page
    if not devices.caffe_has_cuda():
        assert 'value="0"' not in page
    assert "Previous networks" in page and 'name="custom_network_snapshot"' in page


def test_the_curl_fields_script_sets_every_field_in_the_jobs_files(site):
    env = serving.clean_env(SERVER=site.server.url, MNIST=site.data, PAIRS="320",
                            VAL_PAIRS="64", EPOCHS="1")
    done = subprocess.run(["sh", os.path.join(ROOT, "tests", "serve", "digits_fields.sh")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr + site.server.log()
    made = {}
    for line in done.stdout.splitlines():
        label, job_id = line.split()
        made.setdefault(label, []).append(job_id)
    job = {label: jobs.Job.load(os.path.join(site.jobs_dir, ids[0]))
           for label, ids in made.items() if label != "dataset"}

    parent, tuned = job["parent"], job["tuned"]
    source, = tuned.weights["sources"]
    last = parent.last_snapshot()
    assert (source["job_id"], source["snapshot_iteration"]) == (parent.job_id, last.iteration)
    assert source["sha256"] == last.digest(last.caffemodel_path)["sha256"]
    status, document = site.get(f"/models/{tuned.job_id}.json")
    assert document["weights"][0]["job_id"] == parent.job_id

    sweep = [jobs.Job.load(os.path.join(site.jobs_dir, i)) for i in made["sweep"]]
    assert sorted((j.settings["base_lr"], j.plan["batch_size"]) for j in sweep) == [
        (0.001, 32), (0.001, 64), (0.01, 32), (0.01, 64)]
    assert {j.group for j in sweep} == {"sweep"}
    assert "sweep learning_rate:0.001 batch_size:64" in {j.name for j in sweep}

    shaped = job["shaped"]
    train_val = prototxt.read_net(shaped.train_val_path)
    data = [layer for layer in train_val.layer if layer.name.endswith("-data")]
    assert [layer.transform_param.crop_size for layer in data] == [24, 24]
    assert all(len(layer.transform_param.mean_value) == 3 for layer in data)
    assert prototxt.read_solver(shaped.solver_path).iter_size == 2
    status, document = site.get(f"/models/{shaped.job_id}.json")
    assert document["mean subtraction"] == "pixel"


def test_weights_outside_the_roots_and_jobs_are_refused(site, tmp_path):
    outside = tmp_path / "w.caffemodel"
    outside.write_bytes(b"")
    form = {"username": "tester", "model_name": "m", "method": "custom",
            "custom_network": network_text(), "custom_network_snapshot": str(outside)}
    status, answer = site.post("/models/images/generic.json", form)
    assert status == 400 and str(outside) in json.dumps(answer["errors"])
