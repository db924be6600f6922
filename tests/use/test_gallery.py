"""`gallery build | search | extend` as a user runs them, on the tiny trained job."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.infer import embedding
from siamese_caffe.train import jobfiles


def write_list(path, folder, entries):
    path.write_text("".join(f"{os.path.join(folder, name)} {label}\n" for name, label in entries))
    return path


@pytest.fixture
def built(cli, job_copy, digit_pngs, tmp_path):
    """A gallery of the twenty digit PNGs, made by the last snapshot: its folder."""
    folder, list_path, _ = digit_pngs
    out = tmp_path / "gallery"
    done = cli("gallery", "build", "--job", job_copy.path, list_path, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: 20 references, exact index, job ")
    return out


def test_build_writes_embeddings_labels_paths_identity_and_index(built, job_copy, digit_pngs):
    folder, _, entries = digit_pngs
    assert sorted(n for n in os.listdir(built) if n != ".siamese-caffe.json") == ["embeddings.npy", "gallery.json", "index.faiss",
                                         "labels.npy", "paths.json"]
    with open(built / "gallery.json") as f:
        info = json.load(f)
    snapshot = job_copy.snapshot(40)
    ident = info["identity"]
    assert ident["snapshot"] == 40 and ident["job_id"] == job_copy.job_id
    assert ident["caffemodel_sha256"] == jobfiles.file_digest(snapshot.caffemodel_path)["sha256"]
    assert info["index"]["kind"] == "exact" and info["count"] == 20
    assert np.load(built / "labels.npy").tolist() == [label for _, label in entries]
    with open(built / "paths.json") as f:
        assert json.load(f) == [os.path.join(folder, name) for name, _ in entries]
    features = np.load(built / "embeddings.npy")
    embedder = embedding.Embedder(job_copy)
    first = embedder.infer_file(os.path.join(folder, entries[0][0])).left
    assert features.shape == (20, 2) and np.allclose(features[0], first, atol=1e-5)


def test_search_gives_the_nearest_references_and_their_majority(cli, built, digit_pngs):
    folder, _, entries = digit_pngs
    query = os.path.join(folder, entries[6][0])               # a digit 3 of the gallery
    answer = json.loads(cli("gallery", "search", built, query, "-k", "3", "--json").stdout)
    (result,) = answer["results"]
    neighbours = result["neighbours"]
    assert answer["k"] == 3 and len(neighbours) == 3 and answer["snapshot"] == 40
    assert neighbours[0]["path"] == query and neighbours[0]["distance"] < 1e-5
    assert neighbours[0]["label"] == 3 and result["nearest_passes_threshold"] is True
    distances = [n["distance"] for n in neighbours]
    assert distances == sorted(distances)
    labels = [n["label"] for n in neighbours]
    assert result["majority_label"] in labels
    assert result["majority_votes"] == labels.count(result["majority_label"])
    text = cli("gallery", "search", built, query, "-k", "2").stdout.splitlines()
    assert text[0].startswith(f"{query}: majority label ") and "passes the threshold 0.5000" \
        in text[0]
    assert text[1] == f"  1. 0.0000  label 3  {query}"


def test_search_of_a_labelled_list_gives_evaluates_knn_accuracy(cli, job_copy, digit_pngs,
                                                               tmp_path):
    folder, _, entries = digit_pngs
    reference = write_list(tmp_path / "reference.txt", folder, entries[0::2])
    queries = write_list(tmp_path / "queries.txt", folder, entries[1::2])
    cli("gallery", "build", "--job", job_copy.path, reference, "-o", tmp_path / "g")
    done = cli("gallery", "search", tmp_path / "g", "--list", queries, "-k", "3")
    assert done.returncode == 0, done.stderr
    evaluated = cli("evaluate", "--job", job_copy.path, "--reference", reference, "--list",
                    queries, "-k", "3", "-o", tmp_path / "report", "--json")
    knn = json.loads(evaluated.stdout)["images"]
    correct = round(knn["knn_accuracy"] * 10)
    assert done.stdout.splitlines()[-1] == (f"3-NN accuracy {100 * knn['knn_accuracy']:.2f} % "
                                            f"({correct} of 10 labelled images)")


def test_extend_adds_images_without_a_rebuild(cli, job_copy, digit_pngs, tmp_path):
    folder, _, entries = digit_pngs
    first = write_list(tmp_path / "first.txt", folder, entries[:10])
    rest = write_list(tmp_path / "rest.txt", folder, entries[10:])
    out = tmp_path / "g"
    cli("gallery", "build", "--job", job_copy.path, first, "-o", out, "--index", "hnsw")
    done = cli("gallery", "extend", out, rest)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{out}: 10 + 10 = 20 references (hnsw index)\n"
    query = os.path.join(folder, entries[15][0])
    answer = json.loads(cli("gallery", "search", out, query, "-k", "1", "--json").stdout)
    nearest = answer["results"][0]["neighbours"][0]
    assert nearest["path"] == query and nearest["position"] == 15 and nearest["distance"] < 1e-5
    with open(out / "gallery.json") as f:
        info = json.load(f)
    assert [s["images"] for s in info["sources"]] == [10, 10] and info["count"] == 20


def test_approximate_indexes_find_the_exact_nearest_on_a_small_gallery(cli, job_copy,
                                                                      digit_pngs, tmp_path):
    folder, list_path, entries = digit_pngs
    query = os.path.join(folder, entries[11][0])
    found = {}
    for kind in ("exact", "hnsw"):
        cli("gallery", "build", "--job", job_copy.path, list_path, "-o", tmp_path / kind,
            "--index", kind)
        answer = json.loads(cli("gallery", "search", tmp_path / kind, query, "--json").stdout)
        found[kind] = [n["position"] for n in answer["results"][0]["neighbours"]]
    assert found["hnsw"] == found["exact"]
    line = cli("gallery", "build", "--job", job_copy.path, list_path, "-o", tmp_path / "ivf",
               "--index", "ivf").error_line("gallery")
    assert line.endswith("--index: an ivf index needs at least 39 references to train on, got 20")
    assert not (tmp_path / "ivf").exists()


def test_a_gallery_refuses_another_snapshot(cli, built, job_copy, digit_pngs):
    query = os.path.join(digit_pngs[0], digit_pngs[2][0][0])
    line = cli("gallery", "search", built, query, "--job", job_copy.path, "--snapshot",
               "20").error_line("gallery")
    assert line.startswith(f"siamese-caffe gallery: error: {built}: built by snapshot 40 of "
                           f"job {job_copy.job_id}")
    assert "not by snapshot 20" in line and "build a gallery with this snapshot" in line
    done = cli("gallery", "search", built, query, "--job", job_copy.path, "--snapshot", "40")
    assert done.returncode == 0, done.stderr


def test_bad_list_lines_and_outputs_are_refused_in_one_line(cli, job_copy, digit_pngs,
                                                           tmp_path):
    folder, list_path, entries = digit_pngs
    listing = tmp_path / "list.txt"
    listing.write_text(open(list_path).read() + "gone.png 4\n")
    line = cli("gallery", "build", "--job", job_copy.path, listing, "--image-folder", folder,
               "-o", tmp_path / "g").error_line("gallery")
    assert f"{listing}:21: " in line and line.endswith("gone.png: image not found")
    listing.write_text(f"{entries[0][0]} -2\n")
    line = cli("gallery", "build", "--job", job_copy.path, listing, "--image-folder", folder,
               "-o", tmp_path / "g").error_line("gallery")
    assert line.endswith(f"{listing}:1: label -2 is negative (class labels are 0, 1, 2, ...)")
    assert not (tmp_path / "g").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for extra in ((), ("--force",)):
        line = cli("gallery", "build", "--job", job_copy.path, list_path, "-o", mine,
                   *extra).error_line("gallery")
        assert str(mine) in line
    assert "a folder siamese-caffe did not make" in line
    assert os.listdir(mine) == ["notes.txt"]
    line = cli("gallery", "search", mine, entries[0][0]).error_line("gallery")
    assert line.endswith(f"{mine}: not a gallery (no gallery.json)")


def test_force_replaces_a_gallery(cli, built, job_copy, digit_pngs, tmp_path):
    folder, _, entries = digit_pngs
    short = write_list(tmp_path / "short.txt", folder, entries[:4])
    again = cli("gallery", "build", "--job", job_copy.path, short, "-o", built)
    assert "already exists (use --force" in again.error_line("gallery")
    done = cli("gallery", "build", "--job", job_copy.path, short, "-o", built, "--force")
    assert done.returncode == 0 and done.stdout.startswith(f"{built}: 4 references")


def test_search_of_a_wrong_size_image_is_one_line(cli, built, tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((28, 40), np.uint8)).save(wide)
    line = cli("gallery", "search", built, wide).error_line("gallery")
    assert line.endswith(f"{wide}: image is 40x28 pixels but the job's network reads 28x28")
