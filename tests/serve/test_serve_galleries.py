"""verify.json and the gallery routes on the real server: a gallery built as a queued job,
searched with uploads and server paths; the refusals (path guard, bad fields, not built)."""

import os
import shutil

import numpy as np
import pytest

import serving
from siamese_caffe.infer import embedding
from siamese_caffe.train import jobs
import waiting


@pytest.fixture(scope="module")
def site(tiny_job, digit_pngs, tmp_path_factory):
    base = tmp_path_factory.mktemp("serve-galleries")
    jobs_dir, data, outside = base / "jobs", base / "data", base / "outside"
    shutil.copytree(tiny_job.path, jobs_dir / tiny_job.job_id)
    shutil.copytree(digit_pngs[0], data)
    outside.mkdir()
    shutil.copy(data / digit_pngs[2][0][0], outside / "secret.png")
    (data / "escape.txt").write_text(f"{outside / 'secret.png'} 1\n")
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data],
                                  base / "logs")
    yield server, tiny_job.job_id, str(jobs_dir), str(data), str(outside), digit_pngs[2]
    assert server.stop() == 0, server.log()


def built_gallery(site):
    """POST galleries.json for list.txt and wait for the queued build: the gallery's id."""
    server, job_id, *_ = site
    status, answer = serving.call(server.url + f"/models/{job_id}/galleries.json",
                                  {"image_list": "list.txt"})
    assert status == 200 and answer["status"] in ("waiting", "running", "done"), answer
    url = server.url + f"/galleries/{answer['id']}.json"
    waiting.until(lambda: serving.call(url)[1]["status"] in ("done", "failed"),
                  "the gallery build", timeout=180, interval=0.5)
    status, document = serving.call(url)
    assert document["status"] == "done", document
    return document


def test_a_gallery_is_built_in_the_queue_then_searched(site):
    server, job_id, jobs_dir, data, _, entries = site
    document = built_gallery(site)
    assert document["count"] == 20 and document["index"]["kind"] == "exact"
    assert document["model_id"] == job_id and document["snapshot"] == 40
    assert os.path.isfile(os.path.join(jobs_dir, job_id, "galleries", document["id"],
                                       "gallery.json"))
    listed = serving.call(server.url + f"/models/{job_id}/galleries.json")[1]["galleries"]
    assert document["id"] in [g["id"] for g in listed]
    name, label = entries[4]
    with open(os.path.join(data, name), "rb") as f:
        upload = f.read()
    status, answer = serving.call(server.url + document["search_url"], {"k": "3"},
                                  {"image_file": ("q.png", upload)})
    assert status == 200, answer
    nearest = answer["neighbours"][0]
    assert answer["k"] == 3 and nearest["label"] == label and nearest["distance"] < 1e-5
    assert nearest["path"] == os.path.basename(name) and answer["nearest_passes_threshold"]
    status, picture = serving.call(server.url + nearest["image_url"])
    assert status == 200 and isinstance(picture, str) and picture.startswith("\ufffdPNG")
    by_path = serving.call(server.url + document["search_url"],
                           {"k": "3", "image_path": name})[1]
    assert [n["position"] for n in by_path["neighbours"]] == \
        [n["position"] for n in answer["neighbours"]]


def test_verify_json_takes_uploads_or_paths(site):
    server, job_id, jobs_dir, data, _, entries = site
    a, b = entries[0][0], entries[10][0]
    status, answer = serving.call(server.url + f"/models/{job_id}/verify.json",
                                  {"image_path_a": a, "image_path_b": b})
    assert status == 200, answer
    embedder = embedding.Embedder(jobs.Job.load(os.path.join(jobs_dir, job_id)))
    features = np.stack([embedder.infer_file(os.path.join(data, p)).left for p in (a, b)])
    assert answer["distance"] == pytest.approx(float(np.linalg.norm(features[0] - features[1])),
                                               abs=1e-5)
    assert answer["threshold"]["source"] == "half_margin" and answer["snapshot"] == 40
    with open(os.path.join(data, a), "rb") as f:
        first = f.read()
    status, uploaded = serving.call(server.url + f"/models/{job_id}/verify.json",
                                    {"image_path_b": b}, {"image_file_a": ("a.png", first)})
    assert status == 200 and uploaded["distance"] == pytest.approx(answer["distance"], abs=1e-6)


def test_refusals(site):
    server, job_id, _, _, outside, entries = site
    url = server.url + f"/models/{job_id}/verify.json"
    status, answer = serving.call(url, {"image_path_a": entries[0][0]})
    assert status == 400 and "must provide image_path_b or image_file_b" in \
        answer["error"]["description"]
    status, answer = serving.call(url, {"image_path_a": entries[0][0],
                                        "image_path_b": os.path.join(outside, "secret.png")})
    assert status == 403 and "outside the server's data roots" in answer["error"]["description"]
    galleries = server.url + f"/models/{job_id}/galleries.json"
    status, answer = serving.call(galleries, {"image_list": "escape.txt"})
    assert status == 400 and "outside the server's data roots" in answer["errors"]["image_list"][0]
    status, answer = serving.call(galleries, {"image_list": "list.txt", "index": "fast"})
    assert status == 400 and answer["errors"]["index"] == ["one of exact, hnsw, ivf, not 'fast'"]
    status, answer = serving.call(galleries, {})
    assert status == 400 and answer["errors"]["image_list"] == ["This field is required."]
    status, answer = serving.call(server.url + "/galleries/20000101-000000-0000/search.json",
                                  {"image_path": entries[0][0]})
    assert status == 404
    status, _ = serving.call(server.url + "/models/no-such-job/verify.json",
                             {"image_path_a": "x", "image_path_b": "y"})
    assert status == 404


def test_a_gallery_whose_build_failed_says_why(site):
    server, job_id, _, data, _, _ = site
    with open(os.path.join(data, "gone.txt"), "w") as f:
        f.write("missing.png 3\n")
    status, answer = serving.call(server.url + f"/models/{job_id}/galleries.json",
                                  {"image_list": "gone.txt"})
    assert status == 200, answer
    url = server.url + f"/galleries/{answer['id']}.json"
    waiting.until(lambda: serving.call(url)[1]["status"] in ("done", "failed"),
                  "the gallery build", timeout=180, interval=0.5)
    document = serving.call(url)[1]
    assert document["status"] == "failed" and document["error"].endswith(
        "missing.png: image not found")
    status, refused = serving.call(server.url + document["search_url"],
                                   {"image_path": "list.txt"})
    assert status == 409


def test_a_failed_build_is_still_told_after_a_restart(site, tmp_path):
    server, job_id, jobs_dir, data, _, _ = site
    with open(os.path.join(data, "gone2.txt"), "w") as f:
        f.write("nowhere.png 3\n")
    answer = serving.call(server.url + f"/models/{job_id}/galleries.json",
                          {"image_list": "gone2.txt"})[1]
    url = f"/galleries/{answer['id']}.json"
    waiting.until(lambda: serving.call(server.url + url)[1]["status"] == "failed",
                  "the gallery build", timeout=180, interval=0.5)
    before = serving.call(server.url + url)[1]
    later = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data], tmp_path)
    try:
        status, document = serving.call(later.url + url)
        listed = serving.call(later.url + f"/models/{job_id}/galleries.json")[1]
    finally:
        assert later.stop() == 0, later.log()
    assert status == 200 and document["status"] == "failed"
    assert document["error"] == before["error"] and document["error"].endswith(
        "nowhere.png: image not found")
    assert answer["id"] in [g["id"] for g in listed["galleries"] if g["status"] == "failed"]
