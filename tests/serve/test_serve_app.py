"""`siamese-caffe serve` as a client sees it: the real server (waitress) on a loopback port,
driven over HTTP — DIGITS' routes and answers, the path guard, limits and failures."""

import io
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

import serving

INFER_ONE = "/models/images/generic/infer_one.json"
INFER_MANY = "/models/images/generic/infer_many.json"


@dataclass
class Site:
    """The served folders: jobs/ (the tiny job and a broken copy), data/ (the data root),
    outside/ (files the server must never read) and the running server."""

    server: serving.Server
    job_id: str
    jobs_dir: str
    data: str
    outside: str
    tmpdir: str
    digits: list      # [(path relative to data, label)]
    pair_png: str     # a create-db test PNG inside data

    def url(self, route):
        return self.server.url + route

    def one(self, **fields):
        """POST infer_one.json; an `upload` keyword sends (filename, bytes) as image_file."""
        upload = fields.pop("upload", None)
        files = {"image_file": upload} if upload else None
        return serving.call(self.url(INFER_ONE), {"job_id": self.job_id, **fields}, files)

    def many(self, list_text, **fields):
        """POST infer_many.json with `list_text` uploaded as image_list."""
        files = {"image_list": ("list.txt", list_text.encode())}
        return serving.call(self.url(INFER_MANY), {"job_id": self.job_id, **fields}, files)


@pytest.fixture(scope="module")
def site(tiny_job, digit_pngs, tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    jobs_dir, data, outside = base / "jobs", base / "data", base / "outside"
    shutil.copytree(tiny_job.path, jobs_dir / tiny_job.job_id)
    _broken_copy(tiny_job.path, jobs_dir / "broken-job")
    shutil.copytree(digit_pngs[0], data)
    pair_png = data / "pairs" / "same.png"
    pair_png.parent.mkdir()
    shutil.copy(os.path.join(tiny_job.info["dataset"]["folder"], "val_test_same_class_0.png"),
                pair_png)
    (data / "notes.txt").write_text("not a picture\n")
    outside.mkdir()
    shutil.copy(pair_png, outside / "secret.png")
    shutil.copytree(tiny_job.path, base / "elsewhere" / "stolen-job")
    os.symlink(outside / "secret.png", data / "link-out.png")
    os.symlink(outside, data / "dir-out")
    os.symlink(data / digit_pngs[2][0][0], data / "link-in.png")
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data, "--max-upload-mb",
                                   "1", "--threads", "4"], base / "logs", tmpdir=tmpdir)
    yield Site(server, tiny_job.job_id, str(jobs_dir), str(data), str(outside), str(tmpdir),
               digit_pngs[2], str(pair_png))
    status = server.stop()
    assert status == 0 and "stopped" in server.log(), server.log()


def _broken_copy(source, target):
    """A copy of a job whose weights files are cut short (Caffe aborts loading them)."""
    shutil.copytree(source, target)
    for name in os.listdir(target):
        if name.endswith(".caffemodel"):
            path = os.path.join(target, name)
            with open(path, "rb") as f:
                head = f.read(200)
            with open(path, "wb") as f:
                f.write(head)


def assert_vectors_equal(got, want):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=1e-6, atol=1e-7)


# --- DIGITS' routes and answers -------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="needs /usr/bin/curl")
def test_walkthrough_curl_returns_the_vectors_infer_many_writes(site, tmp_path, cli_process):
    list_path = os.path.join(site.data, "list.txt")          # `0/4321.png 0` lines
    predictions = tmp_path / "predictions.csv"
    done = cli_process("infer-many", list_path, "--job", os.path.join(site.jobs_dir, site.job_id),
                       "-o", predictions, env=serving.clean_env())
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "predictions.json").read_text())["outputs"]

    port = site.server.url.rsplit(":", 1)[1]
    curl = subprocess.run(
        f"curl -s 127.0.0.1:{port}{INFER_MANY} -XPOST -F job_id={site.job_id} "
        "-F image_list=@list.txt > predictions.txt", shell=True, cwd=site.data,
        env=serving.clean_env(), capture_output=True, text=True, timeout=300)
    assert curl.returncode == 0, curl.stderr
    served_path = os.path.join(site.data, "predictions.txt")
    try:
        with open(served_path) as f:
            served = json.load(f)
    finally:
        os.remove(served_path)
    assert list(served["outputs"]) == list(written) == [name for name, _ in site.digits]
    for path, blobs in written.items():
        assert set(served["outputs"][path]) == {"feat_left", "feat_right"}
        for blob, values in blobs.items():
            assert_vectors_equal(served["outputs"][path][blob], values)
    assert served["failed"] == [] and len(served["distances"]) == len(written)


def test_infer_one_on_a_pair_png_matches_infer(site, cli_process):
    done = cli_process("infer", "--job", os.path.join(site.jobs_dir, site.job_id), site.pair_png,
                       "--json", env=serving.clean_env())
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)["results"][0]
    with open(site.pair_png, "rb") as f:
        uploaded = site.one(upload=("same.png", f.read()))
    by_path = site.one(image_path="pairs/same.png")
    for status, answer in (uploaded, by_path):
        assert status == 200, answer
        assert set(answer["outputs"]) == {"feat_left", "feat_right"}
        assert_vectors_equal(answer["outputs"]["feat_left"], [expected["left"]])
        assert_vectors_equal(answer["outputs"]["feat_right"], [expected["right"]])
        assert answer["distance"] == pytest.approx(expected["distance"], rel=1e-5)
        assert answer["snapshot"] == {"iteration": 40, "epoch": 4.0}
        assert "visualizations" not in answer


def test_grayscale_digit_gives_one_point_and_visualizations_on_request(site):
    status, answer = site.one(image_path=site.digits[0][0], show_visualizations="1")
    assert status == 200, answer
    assert answer["outputs"]["feat_left"] == answer["outputs"]["feat_right"]
    assert answer["distance"] == 0.0
    stats = answer["visualizations"]
    assert stats["blobs"]["feat_left"]["shape"] == [2]
    assert stats["params"]["conv1_left"]["weights"]["shape"] == [20, 1, 5, 5]


def test_a_digit_gets_the_numbers_of_the_whole_net(site):
    """A digit's plain answer (one branch run) has the numbers of the answer with
    visualizations (the whole net run), in the same order."""
    for name, _ in site.digits[:4]:
        status, plain = site.one(image_path=name)
        _, full = site.one(image_path=name, show_visualizations="1")
        assert status == 200, plain
        assert list(plain["outputs"]) == list(full["outputs"]) == ["feat_left", "feat_right"]
        for blob in ("feat_left", "feat_right"):
            assert_vectors_equal(plain["outputs"][blob], full["outputs"][blob])
        assert plain["distance"] == full["distance"] == 0.0


def test_snapshot_epoch_picks_that_snapshot(site, tiny_job):
    from siamese_caffe.infer import embedding

    early = embedding.Embedder(tiny_job, 20).infer_file(site.pair_png)
    status, answer = site.one(image_path="pairs/same.png", snapshot_epoch="2")
    assert status == 200, answer
    assert answer["snapshot"] == {"iteration": 20, "epoch": 2.0}
    assert_vectors_equal(answer["outputs"]["feat_left"], [early.left])
    status, latest = site.one(image_path="pairs/same.png", snapshot_epoch="0")
    assert latest["snapshot"]["iteration"] == 40
    status, answer = site.one(image_path="pairs/same.png", snapshot_epoch="3")
    assert status == 400 and "no snapshot at epoch 3 (have: 2, 4)" in answer["error"]["message"]
    status, answer = site.one(image_path="pairs/same.png", snapshot_epoch="last")
    assert status == 400 and "snapshot_epoch must be a number" in answer["error"]["message"]


def test_infer_many_lists_failures_and_honours_image_folder_and_count(site):
    (name0, label0), (name1, _), (name2, _) = site.digits[:3]
    folder, base0 = os.path.split(name0)
    text = (f"{os.path.join(site.data, name1)} 7\n"      # absolute, inside the root
            f"{name0} {label0}\n"
            "missing.png 3\n"
            "notes.txt\n"
            "pairs/same.png\n"                            # 28x28 RGB: a pair, fine
            f"{name2}\n")
    status, answer = site.many(text, num_test_images="5")
    assert status == 200, answer
    assert list(answer["outputs"]) == [os.path.join(site.data, name1), name0, "pairs/same.png"]
    assert [(f["path"], f["line"]) for f in answer["failed"]] == [("missing.png", 3),
                                                                   ("notes.txt", 4)]
    assert "image not found" in answer["failed"][0]["reason"]
    assert "cannot read image" in answer["failed"][1]["reason"]
    assert site.data not in json.dumps(answer["failed"])   # reasons name paths as written
    assert answer["distances"][name0] == 0.0

    status, answer = site.many(f"{base0}\n", image_folder=folder)
    assert status == 200, answer
    assert list(answer["outputs"]) == [name0]              # keyed as DIGITS: folder/path

    status, answer = site.many("missing.png\n")
    assert status == 400 and "none of the 1 images could be read" in answer["error"]["message"]
    status, answer = site.many(f"{base0}\n", image_folder="no-such-folder")
    assert status == 400 and 'image_folder "no-such-folder" does not exist' in \
        answer["error"]["description"]
    status, answer = site.many("\n\n")
    assert status == 400 and "empty" in answer["error"]["description"]
    status, answer = site.many(f"{name0}\n", num_test_images="zero")
    assert status == 400 and "num_test_images" in answer["error"]["description"]


def test_job_metadata_and_health(site):
    status, job = serving.call(site.url(f"/models/{site.job_id}.json"))
    assert status == 200, job
    assert job["id"] == site.job_id and job["status"] == "Done" and job["framework"] == "caffe"
    assert job["snapshots"] == [2.0, 4.0] and job["snapshot_iterations"] == [20, 40]
    assert job["network"]["feature_blobs"] == ["feat_left", "feat_right"]
    losses = job["last_losses"]
    assert losses["train"]["iteration"] == 40 and losses["train"]["loss"] > 0
    assert losses["val"]["loss"] > 0 and losses["val"]["different_distance"] > 0
    assert serving.call(site.url("/models/no-such-job.json"))[0] == 404
    assert site.one(image_path="pairs/same.png")[0] == 200
    status, health = serving.call(site.url("/healthz"))
    assert status == 200 and health["status"] == "ok" and health["nets_loaded"] >= 1


# --- bad input: DIGITS' messages, 404, 413, 400 ---------------------------------------------

@pytest.mark.parametrize("route, fields, message", [
    (INFER_ONE, {"image_path": "pairs/same.png"}, "job_id is a required field"),
    (INFER_ONE, {"job_id": "JOB"}, "must provide image_path or image_file"),
    (INFER_MANY, {"job_id": "JOB"}, "image_list is a required field"),
    (INFER_MANY, {}, "job_id is a required field"),
])
def test_missing_field_gets_digits_message(site, route, fields, message):
    fields = {k: site.job_id if v == "JOB" else v for k, v in fields.items()}
    status, answer = serving.call(site.url(route), fields)
    assert status == 400, answer
    assert answer["error"] == {"message": f"400 Bad Request: {message}", "type": "BadRequest",
                               "description": message}


@pytest.mark.parametrize("job_id", ["no-such-job", "../elsewhere/stolen-job", ".", ""])
def test_unknown_job_is_404(site, job_id):
    status, answer = site.one(job_id=job_id, image_path="pairs/same.png")
    assert status == 404 and answer["error"]["description"] == "Job not found"


def test_job_id_cannot_reach_a_job_outside_the_jobs_folder(site):
    stolen = os.path.join(os.path.dirname(site.jobs_dir), "elsewhere", "stolen-job")
    for job_id in (os.path.relpath(stolen, site.jobs_dir), stolen):
        assert site.one(job_id=job_id, image_path="pairs/same.png")[0] == 404
        assert serving.call(site.url(f"/models/{job_id}.json"))[0] == 404


def test_upload_over_the_limit_is_413(site):
    big = b"\0" * (1536 << 10)                     # 1.5 MB against --max-upload-mb 1
    status, answer = site.one(upload=("big.png", big))
    assert status == 413, answer
    assert answer["error"]["type"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("payload", [b"", b"just text\n", b"\x89PNG\r\n\x1a\n broken"])
def test_non_image_upload_is_400(site, payload):
    status, answer = site.one(upload=("x.png", payload))
    assert status == 400, answer
    assert "cannot read image" in answer["error"]["description"]


def test_image_of_another_size_is_resized_unless_dont_resize(site):
    """DIGITS squashed an image to the net's input size unless dont_resize was sent."""
    digit = Image.open(os.path.join(site.data, site.digits[0][0]))
    buffer = io.BytesIO()
    digit.resize((56, 56), Image.NEAREST).save(buffer, "PNG")
    status, answer = site.one(upload=("big.png", buffer.getvalue()), dont_resize="1")
    assert status == 400 and "56x56" in answer["error"]["description"]
    status, resized = site.one(upload=("big.png", buffer.getvalue()))
    assert status == 200 and resized["resized"] == {"from": [56, 56], "to": [28, 28]}
    status, plain = site.one(image_path=site.digits[0][0])
    assert "resized" not in plain
    assert abs(resized["distance"] - plain["distance"]) < 0.05
    np.testing.assert_allclose(resized["outputs"]["feat_left"], plain["outputs"]["feat_left"],
                               atol=0.2)


def test_job_id_is_taken_from_the_query_string_first(site):
    url = site.url(f"{INFER_ONE}?job_id={site.job_id}")
    status, answer = serving.call(url, {"image_path": site.digits[0][0]})
    assert status == 200 and "feat_left" in answer["outputs"]
    status, answer = serving.call(site.url(f"{INFER_ONE}?job_id=no-such-job"),
                                  {"job_id": site.job_id, "image_path": site.digits[0][0]})
    assert status == 404


# --- the path guard: every refusal would be a 200 without it -------------------------------

def test_paths_outside_the_data_root_are_refused(site):
    secret = os.path.join(site.outside, "secret.png")
    name0 = site.digits[0][0]
    for path in ["../outside/secret.png",              # '..' climbing out
                 f"{os.path.dirname(name0)}/../{name0}",  # '..' that stays inside: refused too
                 secret,                               # absolute, elsewhere
                 "link-out.png",                       # a symlink out of the root
                 "dir-out/secret.png",                 # through a symlinked folder
                 os.path.join(site.data, "link-out.png")]:
        status, answer = site.one(image_path=path)
        assert status == 403, (path, answer)
        assert answer["error"]["type"] == "Forbidden"


def test_image_lists_and_folders_outside_the_data_root_are_refused(site):
    inside = site.digits[0][0]
    for text, fields in [(f"{inside} 1\n../outside/secret.png 1\n", {}),
                         (f"{inside}\nlink-out.png\n", {}),
                         (f"{os.path.join(site.outside, 'secret.png')}\n", {}),
                         ("secret.png\n", {"image_folder": site.outside}),
                         ("secret.png\n", {"image_folder": "dir-out"}),
                         ("secret.png\n", {"image_folder": "../outside"})]:
        status, answer = site.many(text, **fields)
        assert status == 403, (text, fields, answer)
        assert "outputs" not in answer                 # nothing inferred, not even `inside`


def test_links_that_stay_inside_the_root_are_followed(site):
    status, answer = site.one(image_path="link-in.png")
    assert status == 200, answer


def test_without_data_root_only_uploads_are_read(site, tmp_path):
    server = serving.start_server(["--jobs", site.jobs_dir], tmp_path / "logs")
    try:
        url = server.url + INFER_ONE
        status, answer = serving.call(url, {"job_id": site.job_id, "image_path": site.pair_png})
        assert status == 403 and "without --data-root" in answer["error"]["description"]
        with open(site.pair_png, "rb") as f:
            status, answer = serving.call(url, {"job_id": site.job_id},
                                          {"image_file": ("same.png", f.read())})
        assert status == 200, answer
    finally:
        assert server.stop() == 0


# --- robustness ------------------------------------------------------------------------------

def test_a_job_caffe_cannot_load_is_a_500_and_the_server_survives(site):
    for _ in range(2):                                 # a failed load is not cached
        status, answer = site.one(job_id="broken-job", image_path="pairs/same.png")
        assert status == 500, answer
        assert "cannot load its net" in answer["error"]["description"]
    assert site.server.alive()
    assert site.one(image_path="pairs/same.png")[0] == 200


def test_concurrent_requests_each_get_their_own_answer(site):
    names = [name for name, _ in site.digits[:8]]
    expected = {}
    for name in names:
        status, answer = site.one(image_path=name)
        expected[name] = answer["outputs"]["feat_left"]
    got, errors = [], []

    def client(offset):
        for k in range(12):
            name = names[(offset + k) % len(names)]
            status, answer = site.one(image_path=name)
            if status != 200:
                errors.append((status, answer))
            else:
                got.append((name, answer["outputs"]["feat_left"]))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(got) == 72
    for name, left in got:
        assert left == expected[name], name
    assert "Task queue depth" not in site.server.log()   # no line per request that waited


def test_failed_requests_leave_nothing_behind(site):
    """Placed after the other requests: those above, and these (with a body waitress spools to a
    temporary file), left no file in the server's TMPDIR, the data root or the jobs."""
    before = {top: sorted(_tree(top)) for top in (site.data, site.jobs_dir)}
    statuses = [site.one(upload=("big.png", os.urandom(900 << 10)))[0],   # after spooling
                site.one(upload=("big.png", b"\0" * (1100 << 10)))[0],
                site.many("../outside/secret.png\n")[0],
                site.one(job_id="broken-job", image_path="pairs/same.png")[0]]
    assert statuses == [400, 413, 403, 500]
    assert os.listdir(site.tmpdir) == []
    assert {top: sorted(_tree(top)) for top in before} == before
    assert serving.call(site.url("/healthz"))[0] == 200


def _tree(top):
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            yield os.path.relpath(os.path.join(folder, name), top)


# --- starting up -----------------------------------------------------------------------------

def test_bad_startup_options_are_one_line_and_status_2(site, tmp_path, capsys):
    import socket

    from siamese_caffe import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "a-file").write_text("not a folder")
        cases = [(["--jobs", str(tmp_path / "a-file")], "a-file: not a folder"),
                 (["--jobs", str(tmp_path / "no" / "jobs")], "does not exist"),
                 (["--jobs", site.jobs_dir, "--data-root", str(tmp_path / "gone")],
                  "gone: not a folder"),
                 (["--jobs", site.jobs_dir, "--port", str(port)], f"127.0.0.1:{port}"),
                 (["--jobs", site.jobs_dir, "--threads", "0"], "--threads: must be a whole number from 1")]
        for options, message in cases:
            assert cli.main(["serve", "--host", "127.0.0.1", *options]) == 2
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("siamese-caffe serve: error: ")
            assert message in lines[0], lines[0]


def test_a_new_jobs_folder_is_made_as_digits_made_its_own(tmp_path):
    from siamese_caffe.serve import server

    jobs_dir = tmp_path / "jobs"
    server.create_app(str(jobs_dir))
    assert jobs_dir.is_dir() and list(jobs_dir.iterdir()) == []
