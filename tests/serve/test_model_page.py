"""The model page's extras over HTTP: Download (and the curl script that runs it elsewhere),
the dataset's files, Test a DB, the learning-rate preview and chart data, Clone."""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

import project_paths
import serving
import waiting

ROOT = project_paths.ROOT


@pytest.fixture(scope="module")
def site(tiny_job, tmp_path_factory):
    """A server with tiny_job and its dataset (see serving.start_job_site)."""
    server, data = serving.start_job_site(tiny_job, tmp_path_factory.mktemp("model-page"))
    yield server, data, tiny_job.job_id
    assert server.stop() == 0, server.log()


def fetch(url, data=None):
    """(status, headers, body bytes) of one GET (or POST of urlencoded `data`)."""
    body = None if data is None else urllib.parse.urlencode(data).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_download_answers_digits_routes_and_formats(site):
    server, _, job_id = site
    status, headers, body = fetch(f"{server.url}/models/{job_id}/download")
    assert status == 200, body[:300]
    assert headers["Content-Disposition"] == f"attachment; filename={job_id}_epoch_4.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = set(tar.getnames())
        info = json.load(tar.extractfile("info.json"))
    assert {"deploy.prototxt", "snapshot_iter_40.caffemodel", "train_mean.binaryproto",
            "info.json", "README.txt"} <= names
    assert info["id"] == job_id and info["status"] == "Done" and info["name"] == job_id
    status, headers, body = fetch(f"{server.url}/models/{job_id}/download.zip?epoch=2")
    assert status == 200 and headers["Content-Disposition"].endswith("_epoch_2.zip")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "snapshot_iter_20.caffemodel" in archive.namelist()
        assert json.loads(archive.read("info.json"))["snapshot file"] == \
            "snapshot_iter_20.caffemodel"
    posted = fetch(f"{server.url}/models/{job_id}/download", {"snapshot_epoch": "2"})
    assert posted[0] == 200 and posted[1]["Content-Disposition"].endswith("_epoch_2.tar.gz")
    status, _, body = fetch(f"{server.url}/models/{job_id}/download?epoch=3")
    assert status == 400 and b"no snapshot at epoch 3 (have: 2, 4)" in body
    status, _, body = fetch(f"{server.url}/models/{job_id}/download.rar")
    assert status == 400 and b"Invalid extension 'rar'" in body
    assert fetch(f"{server.url}/models/20990101-000000-abcd/download")[0] == 404


def test_the_curl_script_runs_the_download_outside_the_package(site, cli, tiny_job, tmp_path):
    server, _, job_id = site
    folder = tiny_job.info["dataset"]["folder"]
    images = [os.path.join(folder, f"val_test_{kind}_class_{k}.png")
              for kind in ("same", "different") for k in (1, 7)]
    expected = json.loads(cli("infer", "--job", tiny_job.path, "--json", *images).stdout)
    for extra in ({}, {"FORMAT": "zip", "EPOCH": "4"}):
        env = serving.clean_env(SERVER=server.url, MODEL=job_id, PYTHON=sys.executable, **extra)
        done = subprocess.run(["sh", os.path.join(ROOT, "tests", "serve", "model_download.sh"),
                               *images], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "deploy.prototxt" in done.stderr and "info.json" in done.stderr
        for mine, theirs in zip(json.loads(done.stdout), expected["results"]):
            np.testing.assert_allclose(mine["left"], theirs["left"], atol=1e-5, rtol=0)
            np.testing.assert_allclose(mine["right"], theirs["right"], atol=1e-5, rtol=0)
    assert os.listdir(tmp_path) == []                   # the script cleaned up after itself


@pytest.fixture(scope="module")
def prebuilt(site):
    """The id of a dataset registered from the data root's LMDBs (DIGITS' five paths)."""
    server = site[0]
    dataset = serving.call(server.url + "/datasets/images/generic.json", {
        "dataset_name": "prebuilt", "method": "prebuilt", "username": "tester",
        **{f"prebuilt_{phase}_{kind}": f"siamesedb/{phase}_{kind}"
           for phase in ("train", "val") for kind in ("images", "labels")},
        "prebuilt_mean_file": "siamesedb/train_mean.binaryproto"})[1]["id"]
    waiting.until(lambda: serving.call(f"{server.url}/datasets/{dataset}.json")[1]["status"]
                  == "Done", "the prebuilt dataset", 120, interval=0.3)
    return dataset


def test_a_datasets_mean_and_manifest_can_be_fetched(site, prebuilt):
    server, data, _ = site
    dataset = prebuilt
    status, headers, body = fetch(f"{server.url}/datasets/{dataset}/files/train_mean.binaryproto")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    with open(os.path.join(data, "siamesedb", "train_mean.binaryproto"), "rb") as f:
        assert body == f.read()
    status, _, body = fetch(f"{server.url}/datasets/{dataset}/files/dataset.json")
    assert status == 200 and json.loads(body)["train"]["pairs"] == 320
    assert fetch(f"{server.url}/datasets/{dataset}/files/job.json")[0] == 404
    # Clone of a dataset: its form again, every field filled in
    status, _, page = fetch(f"{server.url}/clone/{dataset}")
    page = page.decode()
    assert status == 200 and 'id="prebuilt_val_labels" name="prebuilt_val_labels" value="' \
        + os.path.join(os.path.realpath(data), "siamesedb", "val_labels") + '"' in page
    assert 'name="method" id="method" value="prebuilt"' in page and 'value="prebuilt"' in page


def test_infer_db_json_gives_verdicts_and_accuracy(site):
    server, data, job_id = site
    status, answer = serving.call(f"{server.url}/models/images/generic/infer_db.json",
                                  {"job_id": job_id, "db_path": "val"})
    assert status == 200, answer
    assert answer["count"] == len(answer["outputs"]) == len(answer["pairs"]) == 96
    assert 0.5 < answer["accuracy"] <= 1 and answer["threshold"] == 0.5
    first = answer["pairs"][0]
    assert set(answer["outputs"][first["key"]]) == {"feat_left", "feat_right"}
    by_path = serving.call(f"{server.url}/models/images/generic/infer_db.json?job_id={job_id}",
                           {"db_path": "siamesedb/val_images",
                            "label_db_path": "siamesedb/val_labels", "snapshot_epoch": "2"})[1]
    assert by_path["snapshot"]["iteration"] == 20 and by_path["accuracy"] is not None
    no_labels = serving.call(f"{server.url}/models/images/generic/infer_db.json",
                             {"job_id": job_id, "db_path": "siamesedb/val_images"})[1]
    assert no_labels["accuracy"] is None and no_labels["count"] == 96
    status, answer = serving.call(f"{server.url}/models/images/generic/infer_db.json",
                                  {"job_id": job_id, "db_path": "/etc"})
    assert status == 403, answer
    status, answer = serving.call(f"{server.url}/models/images/generic/infer_db.json",
                                  {"job_id": job_id, "db_path": "siamesedb/nothing"})
    assert status == 400 and 'DB "siamesedb/nothing" does not exist' in \
        answer["error"]["description"]
    status, answer = serving.call(f"{server.url}/models/images/generic/infer_db.json",
                                  {"job_id": job_id, "db_path": "train.txt"})
    assert status == 400


def test_the_lr_preview_follows_the_form_and_progress_holds_the_logged_rates(site):
    server, _, job_id = site
    status, curve = serving.call(f"{server.url}/models/visualize-lr", {
        "train_epochs": "30", "learning_rate": "0.01", "lr_policy": "step",
        "lr_step_size": "33", "lr_step_gamma": "0.1", "batch_size": "64"})
    assert status == 200, curve
    rates = curve["data"]["columns"][0]
    assert rates[0] == "Learning Rate" and len(rates) == 102
    assert rates[1] == pytest.approx(0.01, rel=1e-6)
    assert rates[-1] == pytest.approx(1e-5, rel=1e-6)           # steps at 33, 66 and 99 %
    assert curve["epoch"][-1] == pytest.approx(30, abs=0.5)
    assert sorted({float(f"{r:.3g}") for r in curve["learning_rate"]}) == [1e-5, 1e-4, 1e-3,
                                                                          1e-2]
    status, bad = serving.call(f"{server.url}/models/visualize-lr", {
        "lr_policy": "exp", "lr_exp_gamma": "-1"})
    assert status == 400 and bad["errors"]["lr_exp_gamma"] == [
        "must be a finite number above 0, got -1"]
    progress = serving.call(f"{server.url}/models/{job_id}/progress.json")[1]
    assert progress["rates"]["learning_rate"] and \
        {round(r, 6) for r in progress["rates"]["learning_rate"]} == {0.01}   # fixed
    assert [s["label"] for s in progress["snapshots"]] == ["epoch 2 (iteration 20)",
                                                           "epoch 4 (iteration 40)"]


def test_clone_of_a_model_made_by_train_fills_the_form(site):
    server, _, job_id = site
    status, headers, _ = fetch(f"{server.url}/models/{job_id}")
    request = urllib.request.Request(f"{server.url}/clone/{job_id}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as moved:
        opener.open(request, timeout=30)
    assert moved.value.code == 302
    assert moved.value.headers["Location"].endswith(f"/models/images/generic/new?clone={job_id}")
    page = fetch(f"{server.url}/clone/{job_id}")[2].decode()
    assert re.search(r'id="train_epochs" name="train_epochs" value="4"', page)
    assert re.search(r'id="batch_size" name="batch_size" value="32"', page)
    assert '<option value="fixed" selected>' in page
    assert "ContrastiveLoss" in page and 'value="' + job_id + '"' in page


def test_a_typod_layer_type_is_named_with_its_line_by_visualize_and_create(site, prebuilt):
    server, _, _ = site
    with open(os.path.join(ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
        text = f.read().replace('type: "Pooling"', 'type: "Poolng"', 1)
    line = next(k for k, row in enumerate(text.splitlines(), 1) if '"Poolng"' in row) - 1
    status, answer = serving.call(f"{server.url}/models/visualize-network",
                                  {"custom_network": text})
    assert status == 400 and 'type "Poolng", which this Caffe does not have' in answer["error"]
    assert answer["line"] == line, (answer, line)
    status, answer = serving.call(f"{server.url}/models/images/generic.json", {
        "model_name": "typo", "dataset": prebuilt, "method": "custom", "custom_network": text,
        "username": "tester"})
    assert status == 400
    assert any("Poolng" in message and f"line {line}" in message or f":{line}" in message
               for message in answer["errors"]["custom_network"]), answer
