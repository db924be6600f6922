"""`train`'s DIGITS fields on the command line: --weights (fine-tuning), --mean,
--crop-size, --batch-accumulation, comma-list sweeps and --gpu, each visible in the job's
files and honoured by real Caffe (docs/digits-fields.md)."""

import json
import os
import shutil

import numpy as np

from siamese_caffe.infer import embedding
from siamese_caffe.runtime import devices, prototxt
from siamese_caffe.train import jobfiles, jobs, jobsetup, trainlog, weights
from siamese_caffe.train.settings import TrainSettings

import netvariants

FAST = ["--seed", "3", "--gpu", "cpu", "--lr-policy", "fixed", "--no-progress"]


def train(cli, dataset, jobs_dir, *args):
    """Run `train` in this process with --json; (Ran, summaries as a list)."""
    ran = cli("train", dataset, *FAST, "--jobs-dir", jobs_dir, "--json", *args)
    assert ran.returncode == 0, ran.stderr
    text = ran.stdout.strip()
    decoder, summaries, at = json.JSONDecoder(), [], 0
    while at < len(text):                        # one JSON document per job
        summary, at = decoder.raw_decode(text, at)
        summaries.append(summary)
        at = len(text) - len(text[at:].lstrip())
    return ran, summaries


def val_losses(job):
    return [r["loss"] for r in trainlog.read_rows(job.file("train_log")) if r["phase"] == "val"]


def test_fine_tuned_job_starts_at_its_parents_loss_and_records_its_source(cli, small_pair_db,
                                                                         tiny_job, tmp_path):
    jobs_dir = str(tmp_path / "jobs")
    parent = tiny_job.last_snapshot()
    ran, (tuned,) = train(cli, small_pair_db, jobs_dir, "--epochs", "1", "-b", "32",
                          "--weights", parent.caffemodel_path)
    assert ("weights: loaded from snapshot_iter_40.caffemodel: conv1_left, conv2_left, "
            "ip1_left, ip2_left, feat_left, conv1_right, conv2_right, ip1_right, ip2_right, "
            "feat_right") in ran.stderr.splitlines()
    job = jobs.Job.load(tuned["path"])
    source, = job.weights["sources"]
    assert (source["job_id"], source["snapshot_iteration"]) == (tiny_job.job_id, 40)
    assert source["sha256"] == parent.digest(parent.caffemodel_path)["sha256"]
    assert job.weights["fresh"] == []
    assert jobfiles.matches(job.weights_path, job.weights["digest"])

    _, (scratch,) = train(cli, small_pair_db, jobs_dir, "--epochs", "1", "-b", "32")
    parent_last = val_losses(tiny_job)[-1]
    print(f"parent's last val loss {parent_last:.4f}, fine-tuned first "
          f"{tuned['first_val_loss']:.4f}, scratch first {scratch['first_val_loss']:.4f}")
    assert abs(tuned["first_val_loss"] - parent_last) <= 0.1 * parent_last
    assert scratch["first_val_loss"] > 1.5 * parent_last
    assert "weights" not in jobs.Job.load(scratch["path"]).info


def test_layers_of_another_shape_are_refused_by_name_and_train_fresh(cli, small_pair_db,
                                                                     tiny_job, network_text,
                                                                     tmp_path):
    network = tmp_path / "dim3.prototxt"
    network.write_text(netvariants.features(network_text, 3, 1))
    parent = tiny_job.last_snapshot().caffemodel_path
    ran, (summary,) = train(cli, small_pair_db, str(tmp_path / "jobs"), "-n", network,
                            "--epochs", "0.2", "-b", "32", "--weights", parent)
    lines = ran.stderr.splitlines()
    for side in ("left", "right"):
        assert (f"weights: refused from snapshot_iter_40.caffemodel (shape mismatch): "
                f"feat_{side}: weights 2x10 in the weights, the network needs 3x10 — "
                "initialised fresh") in lines
    assert any(line.startswith("weights: loaded from snapshot_iter_40.caffemodel: conv1_left")
               for line in lines)
    job = jobs.Job.load(summary["path"])
    assert job.weights["fresh"] == ["feat_left", "feat_right"]
    assert summary["status"] == jobs.DONE


def test_weights_that_fit_no_layer_or_do_not_parse_are_refused_in_one_line(cli, small_pair_db,
                                                                          tiny_job, tmp_path):
    pb2 = prototxt.caffe_pb2()
    other = pb2.NetParameter(name="other")
    layer = other.layer.add(name="unrelated", type="InnerProduct")
    layer.blobs.add().shape.dim.extend([2, 2])
    layer.blobs[0].data.extend([0.0] * 4)
    unrelated = tmp_path / "unrelated.caffemodel"
    unrelated.write_bytes(other.SerializeToString())
    cut = tmp_path / "cut.caffemodel"
    data = open(tiny_job.last_snapshot().caffemodel_path, "rb").read()
    cut.write_bytes(data[:len(data) // 2 + 3])
    jobs_dir = tmp_path / "jobs"
    for path, message in ((unrelated, "no layer of the network can take its weights"),
                          (cut, "not a Caffe model"), (tmp_path / "none.caffemodel",
                                                       "no such weights file")):
        ran = cli("train", small_pair_db, *FAST, "--jobs-dir", jobs_dir, "--weights", path)
        line = ran.error_line("train")
        assert str(path) in line and message in line, line
    assert not jobs_dir.exists() or not os.listdir(jobs_dir)


def test_a_later_weights_file_wins_as_in_caffe(small_pair_db, tiny_job, tmp_path):
    first, last = tiny_job.snapshots()
    settings = TrainSettings(epochs=1, batch_size=32, seed=1, gpu="cpu",
                             weights=(first.caffemodel_path, last.caffemodel_path))
    job = jobsetup.create_job(small_pair_db, settings=settings, jobs_dir=str(tmp_path))
    assert [s["snapshot_iteration"] for s in job.weights["sources"]] == [20, 40]
    pb2 = prototxt.caffe_pb2()
    merged, want = pb2.NetParameter(), pb2.NetParameter()
    merged.ParseFromString(open(job.weights_path, "rb").read())
    want.ParseFromString(open(last.caffemodel_path, "rb").read())
    wanted = {layer.name: layer for layer in want.layer}
    assert [layer.name for layer in merged.layer] == [
        n for n in wanted if len(wanted[n].blobs)]
    for layer in merged.layer:
        assert list(layer.blobs[0].data) == list(wanted[layer.name].blobs[0].data)


def test_mean_and_crop_shape_training_and_inference_alike(cli, caffe, small_pair_db, tmp_path):
    jobs_dir = str(tmp_path / "jobs")
    _, (summary,) = train(cli, small_pair_db, jobs_dir, "--epochs", "0.5", "-b", "32",
                          "--mean", "pixel", "--crop-size", "24")
    job = jobs.Job.load(summary["path"])
    assert job.info["transform"]["mean"] == "pixel" and job.info["transform"]["crop_size"] == 24
    assert len(job.info["transform"]["mean_values"]) == 3
    train_val = prototxt.read_net(job.train_val_path)
    for layer in train_val.layer[:4:2]:
        assert layer.transform_param.crop_size == 24
        assert len(layer.transform_param.mean_value) == 3 and not layer.transform_param.mean_file
    assert job.input_shape == (3, 24, 24)

    # Caffe's TEST phase (centre crop, mean values) gives the features inference gives
    snapshot = job.last_snapshot().caffemodel_path
    net = caffe.Net(job.train_val_path, caffe.TEST, stages=["val"], weights=snapshot)
    net.forward()
    assert net.blobs["data"].data.shape == (job.plan["val_batch_size"], 3, 24, 24)
    caffe_left = net.blobs[job.feature_blobs[0]].data.reshape(len(net.blobs["data"].data), -1)
    embedder = embedding.Embedder(job)
    import lmdb
    pairs = []
    with lmdb.open(job.dataset_info["folder"] + "/val_images", readonly=True,
                   lock=False) as env, env.begin() as txn:
        for _, (_, value) in zip(range(len(caffe_left)), txn.cursor()):
            datum = prototxt.caffe_pb2().Datum.FromString(bytes(value))
            pairs.append(np.frombuffer(datum.data, np.uint8).reshape(3, 28, 28))
    left, _ = embedder.embed_pairs(np.stack(pairs))
    np.testing.assert_allclose(left, caffe_left, rtol=1e-4, atol=1e-5)

    png = os.path.join(small_pair_db, "val_test_same_class_0.png")
    ran = cli("infer", "--job", job.path, png, "--json")
    assert ran.returncode == 0, ran.stderr
    assert f'"distance": {embedder.infer_file(png).distance}' in ran.stdout.replace("\n", "")


def test_crop_larger_than_the_images_is_refused(cli, small_pair_db, tmp_path):
    jobs_dir = tmp_path / "jobs"
    ran = cli("train", small_pair_db, *FAST, "--jobs-dir", jobs_dir, "--crop-size", "29")
    assert ran.error_line("train") == ("siamese-caffe train: error: --crop-size: a 29 x 29 "
                                       "crop is larger than the dataset's 28 x 28 images")
    assert not jobs_dir.exists() or not os.listdir(jobs_dir)


def test_batch_accumulation_is_caffes_iter_size_and_epochs_count_pairs(cli, small_pair_db,
                                                                       tmp_path):
    _, (summary,) = train(cli, small_pair_db, str(tmp_path / "jobs"), "--epochs", "2",
                          "-b", "32", "--batch-accumulation", "2")
    job = jobs.Job.load(summary["path"])
    assert prototxt.read_solver(job.solver_path).iter_size == 2
    assert job.plan["iterations_per_epoch"] == 5 and job.max_iter == 10   # 320 pairs / 64
    rows = trainlog.read_rows(job.file("train_log"))
    assert [r["epoch"] for r in rows if r["phase"] == "val"] == [0.0, 1.0, 2.0]
    ran = cli("train", small_pair_db, *FAST, "--jobs-dir", tmp_path / "other", "-b", "32",
              "--batch-accumulation", "11")
    assert "--batch-accumulation: 11 batches of 32 pairs per iteration" in \
        ran.error_line("train")


def test_comma_lists_sweep_one_job_per_combination_in_one_group(cli, small_pair_db, tmp_path):
    jobs_dir = str(tmp_path / "jobs")
    ran, summaries = train(cli, small_pair_db, jobs_dir, "--epochs", "0.1", "--name", "lenet",
                           "--base-lr", "0.01,0.001", "-b", "32,64")
    assert len(summaries) == 4
    ids = [s["job_id"] for s in summaries]
    assert f"sweep of 4 jobs in group 'lenet': {' '.join(ids)}" in ran.stderr
    found = {}
    for summary in summaries:
        job = jobs.Job.load(summary["path"])
        assert job.group == "lenet" and job.status == jobs.DONE
        found[job.name] = (job.settings["base_lr"], job.plan["batch_size"])
    assert found == {"lenet learning_rate:0.01 batch_size:32": (0.01, 32),
                     "lenet learning_rate:0.01 batch_size:64": (0.01, 64),
                     "lenet learning_rate:0.001 batch_size:32": (0.001, 32),
                     "lenet learning_rate:0.001 batch_size:64": (0.001, 64)}


def test_a_refused_sweep_job_leaves_none_of_the_sweep(cli, small_pair_db, tmp_path):
    jobs_dir = tmp_path / "jobs"
    ran = cli("train", small_pair_db, *FAST, "--jobs-dir", jobs_dir, "-b", "32,1000")
    assert "--batch-size: 1000 pairs per batch" in ran.error_line("train")
    assert not jobs_dir.exists() or not os.listdir(jobs_dir)


def test_devices_list_only_what_exists_and_several_gpus_are_refused(cli, small_pair_db,
                                                                   tmp_path, caffe):
    found = devices.available()
    assert found[0] == (None, "CPU")
    if not devices.caffe_has_cuda():
        assert found == [(None, "CPU")]
    ran = cli("train", small_pair_db, "--gpu", "0,1", "--jobs-dir", tmp_path / "jobs",
              "--no-progress")
    assert ran.error_line("train") == ("siamese-caffe train: error: --gpu: multi-GPU "
                                       "training is not supported: give one GPU number "
                                       "(or cpu, auto)")


def test_a_copied_snapshot_is_named_by_path_without_a_job(small_pair_db, tiny_job, tmp_path):
    copy = tmp_path / "lenet.caffemodel"
    shutil.copy(tiny_job.last_snapshot().caffemodel_path, copy)
    settings = TrainSettings(epochs=1, batch_size=32, seed=1, gpu="cpu", weights=(str(copy),))
    job = jobsetup.create_job(small_pair_db, settings=settings, jobs_dir=str(tmp_path / "j"))
    source, = job.weights["sources"]
    assert source["path"] == str(copy) and source["job_id"] is None
    assert weights.describe(job.weights).startswith(f"fine-tuned from {copy} (sha256 ")
