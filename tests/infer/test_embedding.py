"""A trained job's deploy net run on image files and arrays (real Caffe, tiny job)."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.infer import embedding, pair_input
from siamese_caffe.train import jobs
from siamese_caffe.errors import BadInputError


@pytest.fixture(scope="module")
def embedder(tiny_job):
    return embedding.Embedder(tiny_job)


def test_grayscale_digit_gives_two_identical_points(embedder, digit_pngs):
    folder, _, entries = digit_pngs
    for name, _ in entries[:5]:
        result = embedder.infer_file(os.path.join(folder, name))
        assert result.grayscale
        np.testing.assert_array_equal(result.left, result.right)
        assert result.distance == 0.0 and result.same


def test_test_pngs_match_caffe_run_by_hand(caffe, embedder, tiny_job):
    """infer_file equals a caffe.Net built here from deploy.prototxt, fed pair - mean."""
    folder = tiny_job.info["dataset"]["folder"]
    net = caffe.Net(tiny_job.deploy_path, caffe.TEST,
                    weights=tiny_job.last_snapshot().caffemodel_path)
    blob = caffe.proto.caffe_pb2.BlobProto.FromString(open(tiny_job.mean_file, "rb").read())
    mean = caffe.io.blobproto_to_array(blob)[0]
    for name in ("val_test_same_class_0.png", "val_test_different_class_0.png"):
        path = os.path.join(folder, name)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        net.blobs["data"].data[0] = rgb[..., ::-1].transpose(2, 0, 1) - mean   # BGR, CHW
        out = net.forward()
        result = embedder.infer_file(path)
        assert not result.grayscale
        np.testing.assert_allclose(result.left, out["feat_left"][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.right, out["feat_right"][0], rtol=1e-5, atol=1e-6)
        expected = np.linalg.norm(out["feat_left"][0] - out["feat_right"][0])
        assert result.distance == pytest.approx(expected, rel=1e-5)
        assert result.same == (result.distance < tiny_job.margin / 2)


def test_a_lone_digit_gives_what_both_branches_give(caffe, embedder, tiny_job, digit_pngs):
    """A grayscale digit runs one branch only, with the numbers of a whole caffe.Net pass
    built here from deploy.prototxt (the digit minus the mean of the two digit channels)."""
    folder, _, entries = digit_pngs
    net = caffe.Net(tiny_job.deploy_path, caffe.TEST,
                    weights=tiny_job.last_snapshot().caffemodel_path)
    blob = caffe.proto.caffe_pb2.BlobProto.FromString(open(tiny_job.mean_file, "rb").read())
    mean = caffe.io.blobproto_to_array(blob)[0].astype(np.float64)
    digit_mean = ((mean[0] + mean[1]) / 2).astype(np.float32)
    assert embedder.single_branch_end == (list(net._layer_names).index("feat_left"),
                                          "feat_left")
    for name, _ in entries:
        digit = np.asarray(Image.open(os.path.join(folder, name)))
        net.blobs["data"].data[0] = digit.astype(np.float32) - digit_mean
        out = net.forward()
        np.testing.assert_array_equal(out["feat_left"], out["feat_right"])
        result = embedder.infer_file(os.path.join(folder, name))
        np.testing.assert_allclose(result.left, out["feat_left"][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(result.right, out["feat_right"][0], rtol=1e-6, atol=1e-6)
        assert result.distance == 0.0
        np.testing.assert_allclose(embedder.embed_digits(digit[None])[0], out["feat_left"][0],
                                   rtol=1e-6, atol=1e-6)


def test_batches_give_what_single_images_give(tiny_job, small_pair_db):
    from siamese_caffe.data import image_sources

    digits = image_sources.builtin_mnist().images[:70]
    batched = embedding.Embedder(tiny_job, batch_size=32).embed_digits(digits)
    single = embedding.Embedder(tiny_job, batch_size=1).embed_digits(digits)
    assert batched.shape == (70, 2)
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-5)
    assert len(np.unique(batched.round(4), axis=0)) > 60      # not a constant


def test_threshold_option_decides_the_verdict(embedder, tiny_job):
    path = os.path.join(tiny_job.info["dataset"]["folder"], "val_test_different_class_0.png")
    distance = embedder.infer_file(path).distance
    assert embedder.infer_file(path, threshold=distance + 1e-3).same
    assert not embedder.infer_file(path, threshold=distance).same
    assert embedder.infer_file(path).as_dict()["threshold"] == 0.5


def test_an_earlier_snapshot_gives_other_features(tiny_job, digit_pngs):
    folder, _, entries = digit_pngs
    path = os.path.join(folder, entries[0][0])
    early = embedding.Embedder(tiny_job, iteration=20)
    assert early.snapshot.iteration == 20
    assert not np.allclose(early.infer_file(path).left,
                           embedding.Embedder(tiny_job).infer_file(path).left)
    with pytest.raises(BadInputError, match=r"no snapshot at iteration 7 \(have: 20, 40\)"):
        embedding.Embedder(tiny_job, iteration=7)


def test_job_without_snapshots_is_refused(tiny_job, tmp_path):
    bare = tmp_path / "job"
    shutil.copytree(tiny_job.path, bare,
                    ignore=shutil.ignore_patterns("snapshot_iter_*"))
    with pytest.raises(BadInputError, match="has no snapshot yet"):
        embedding.Embedder(jobs.Job.load(str(bare)))


def test_wrong_size_image_is_refused(embedder, tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((30, 28), np.uint8)).save(path)
    with pytest.raises(BadInputError, match="28x30 pixels but the job's network reads 28x28"):
        embedder.infer_file(str(path))


def test_embed_pairs_subtracts_the_pair_mean(embedder):
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 256, (5, 3, 28, 28), dtype=np.uint8)
    left, right = embedder.embed_pairs(pairs)
    by_hand = embedder.embed(pairs.astype(np.float32) - embedder.mean)
    np.testing.assert_allclose(left, by_hand[0], rtol=1e-5, atol=1e-6)
    gray = pair_input.gray_to_pair(pairs[0, 0])[None]
    l2, r2 = embedder.embed(pair_input.subtract_mean(gray[0], embedder.mean, True)[None])
    np.testing.assert_array_equal(l2, r2)


def replicated(embedder, digits):
    """Each digit alone, replicated into both branches: (N, D) left features."""
    mean = pair_input.grayscale_mean(embedder.mean)
    return np.concatenate([embedder.embed(pair_input.gray_to_pair(d)[None].astype(np.float32)
                                          - mean)[0] for d in digits])


def test_digits_two_to_a_pair_give_what_each_replicated_gives(embedder):
    from siamese_caffe.data import image_sources

    digits = image_sources.builtin_mnist().images[:7]              # odd: the last goes alone
    assert embedder.branches_alike
    np.testing.assert_allclose(embedder.embed_digits(digits), replicated(embedder, digits),
                               rtol=1e-4, atol=1e-5)


def test_unshared_branches_are_never_swapped(small_pair_db, tmp_path, network_text):
    import netvariants
    from siamese_caffe.data import image_sources
    from siamese_caffe.train import jobsetup, training
    from siamese_caffe.train.settings import TrainSettings

    network = tmp_path / "unshared.prototxt"
    network.write_text(netvariants.unnamed_right_conv1_weights(network_text))
    settings = TrainSettings(epochs=0.1, batch_size=32, seed=1, gpu="cpu",
                                      allow_unshared=True)
    job = jobsetup.create_job(small_pair_db, str(network), settings,
                              jobs_dir=str(tmp_path / "jobs"))
    with open(os.devnull, "w") as sink:
        training.train_job(job, progress=False, out=sink)
    unshared = embedding.Embedder(jobs.Job.load(job.path))
    assert not unshared.branches_alike
    digits = image_sources.builtin_mnist().images[:3]
    np.testing.assert_allclose(unshared.embed_digits(digits), replicated(unshared, digits),
                               rtol=1e-4, atol=1e-5)
    assert unshared.single_branch_end is None          # a lone digit runs both branches
    alone = unshared.embed_digits(digits[:1])
    np.testing.assert_allclose(alone, replicated(unshared, digits[:1]), rtol=1e-5, atol=1e-6)
    inputs = unshared.subtract_mean(pair_input.gray_to_pair(digits[0]), True)
    left, right = unshared.embed_one(inputs, True)
    np.testing.assert_allclose(right, unshared.embed(inputs[None])[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(left, right)
