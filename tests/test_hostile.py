"""Hostile inputs, one or more per class: each refused in one line on stderr, a non-zero
exit, no traceback and no Caffe abort, and every input byte for byte as it was.

Classes: outputs that would destroy what the user owns; what Caffe would abort on, and
jobs left "running"; numbers out of range; special files and image bombs; the server's
capacity; the messages themselves. Real files, real Caffe, real processes.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import zlib

import pytest

import project_paths
import serving

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---- helpers ---------------------------------------------------------------------------------

def fingerprint(*paths):
    """{path: sha256 or 'dir'} of every file and folder under `paths` (links not followed),
    LMDB's lock.mdb included: readers (ours and Caffe's Data layer) take no lock."""
    found = {}
    for top in map(str, paths):
        if not os.path.lexists(top):
            found[top] = None
            continue
        if not os.path.isdir(top) or os.path.islink(top):
            found[top] = _digest(top)
            continue
        for root, dirs, names in os.walk(top):
            found[root] = "dir"
            for name in names:
                path = os.path.join(root, name)
                found[path] = _digest(path)
    return found


def _digest(path):
    if os.path.islink(path):
        return "link:" + os.readlink(path)
    if not os.path.isfile(path):
        return "special"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def refused(ran, command, *fragments):
    """Assert a clean refusal: exit 2, one stderr line `siamese-caffe CMD: error: ...`
    holding every fragment, no traceback; the line."""
    assert "Traceback" not in ran.stderr, ran.stderr
    line = ran.error_line(command)
    for fragment in fragments:
        assert fragment in line, line
    return line


def hostile(cli_process, args, command, *fragments, cwd=None, inputs=(), timeout=120):
    """Run `siamese-caffe ARGS` as a process; assert a refusal and that `inputs` are
    unchanged; the error line."""
    before = fingerprint(*inputs)
    ran = cli_process(*args, cwd=cwd, timeout=timeout)
    line = refused(ran, command, *fragments)
    assert fingerprint(*inputs) == before
    return line


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(path, width, height, idat):
    """A grayscale PNG of the given header size and IDAT payload, every CRC right."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    return path


@pytest.fixture
def digits_folder(tmp_path):
    """DIGITS-style PNG folders with train.txt / val.txt (relative paths) in tmp/mnist."""
    return serving.write_digit_lists(str(tmp_path / "mnist"), train=60, val=20)


# ---- 1. data loss ----------------------------------------------------------------------------

def test_force_never_replaces_a_users_folder_a_file_or_the_current_folder(
        tmp_path, cli_process, digits_folder):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    train = os.path.join(digits_folder, "train.txt")
    for target, fragment in ((mine, "did not make"), (a_file, "a file, not a folder")):
        for args in (["create-db", target, train, "-c", 10, "--force"],
                     ["prepare-mnist", target, "--force"]):
            hostile(cli_process, args, args[0], str(target), fragment,
                    inputs=[tmp_path])
    hostile(cli_process, ["create-db", ".", "mnist/train.txt", "-c", 10, "--force"],
            "create-db", "the current folder", cwd=tmp_path, inputs=[tmp_path])
    hostile(cli_process, ["prepare-mnist", "..", "--force"], "prepare-mnist",
            "a folder above the current one", cwd=mine, inputs=[tmp_path])


def test_an_output_holding_the_commands_own_input_is_refused_before_work(
        tmp_path, cli_process, digits_folder):
    hostile(cli_process, ["create-db", "mnist", "mnist/train.txt", "-c", 10, "--force"],
            "create-db", "holds an input of this command", cwd=tmp_path, inputs=[tmp_path])
    made = tmp_path / "db"
    ran = cli_process("create-db", made, os.path.join(digits_folder, "train.txt"), "-c", 10,
                      "--val-count", 5)
    assert ran.returncode == 0, ran.stderr
    pictures = tmp_path / "pictures.txt"       # images listed from inside the target
    pictures.write_text("".join(f"{made}/{kind}_test_different_class_0.png {label}\n"
                                for label, kind in ((0, "train"), (1, "val"))))
    hostile(cli_process, ["create-db", made, pictures, "-c", 10, "--force"], "create-db",
            "holds an input", inputs=[tmp_path])


def test_force_replaces_the_tools_own_folder_but_not_once_a_user_file_is_inside(
        tmp_path, cli_process, digits_folder):
    train = os.path.join(digits_folder, "train.txt")
    made = tmp_path / "db"
    for _ in range(2):
        ran = cli_process("create-db", made, train, "-c", 10, "--val-count", 5, "--force")
        assert ran.returncode == 0, ran.stderr
    (made / "my-notes.txt").write_text("keep me")
    hostile(cli_process, ["create-db", made, train, "-c", 10, "--force"], "create-db",
            "holds my-notes.txt", inputs=[tmp_path])
    hostile(cli_process, ["evaluate", "--job", "x", "-o", made, "--force"], "evaluate",
            inputs=[tmp_path])


def test_infer_many_never_writes_over_its_own_list(tiny_job, digit_pngs, tmp_path, cli):
    folder, list_path, _ = digit_pngs
    before = fingerprint(folder)
    ran = cli("infer-many", list_path, "--job", tiny_job.path, "-o", list_path)
    refused(ran, "infer-many", "is an input of this command")
    json_twin = os.path.splitext(list_path)[0] + ".csv"
    ran = cli("infer-many", list_path, "--job", tiny_job.path, "-o", json_twin,
              "--json-output", list_path)
    refused(ran, "infer-many", "is an input")
    assert fingerprint(folder) == before


def test_evaluate_and_visualize_refuse_a_users_folder(tiny_job, digit_pngs, tmp_path, cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    before = fingerprint(mine, tiny_job.path)
    refused(cli("evaluate", "--job", tiny_job.path, "-o", mine, "--force"), "evaluate",
            "did not make")
    image = os.path.join(digit_pngs[0], digit_pngs[2][0][0])
    refused(cli("infer", "--job", tiny_job.path, image, "--visualize", mine, "--force"),
            "infer", "did not make")
    refused(cli("infer", "--job", tiny_job.path, image, "--visualize", tiny_job.path,
                "--force"), "infer", "is an input")
    assert fingerprint(mine, tiny_job.path) == before


def test_reading_a_dataset_or_a_job_changes_none_of_their_files(
        small_pair_db, tiny_job, digit_pngs, tmp_path, cli_process):
    """Training, infer-db, evaluate and the twin's users leave every byte of their inputs
    as it was, and create nothing beside them: no lock.mdb in an LMDB folder."""
    dataset = tmp_path / "siamesedb"
    shutil.copytree(small_pair_db, dataset)
    for lock in dataset.glob("*/lock.mdb"):
        lock.unlink()                       # a dataset copied without its lock files
    folder, listing, _ = digit_pngs
    job = _copied_job(tiny_job, tmp_path)
    image = os.path.join(folder, open(listing).read().split()[0])
    inputs = [dataset, job, listing, image]
    before = fingerprint(*inputs)
    runs = [["train", dataset, "--jobs-dir", tmp_path / "new-jobs", "--epochs", 1, "-b", 32,
             "--gpu", "cpu", "--no-progress"],
            ["infer-db", dataset / "val_images", "--labels", dataset / "val_labels",
             "--job", job],
            ["export", "--job", job, "-o", tmp_path / "bundle.tar.gz"],
            ["infer", "--job", job, image],
            ["verify", "--job", job, image, image],
            ["gallery", "build", "--job", job, "-o", tmp_path / "gallery", listing]]
    for args in runs:
        ran = cli_process(*args, cwd=folder)
        assert ran.returncode == 0, (args, ran.stderr)
        assert fingerprint(*inputs) == before, args
    assert not list(dataset.glob("*/lock.mdb"))
    before = fingerprint(dataset)
    ran = cli_process("evaluate", "--job", job, "-o", tmp_path / "report")   # records in job
    assert ran.returncode == 0, ran.stderr
    assert fingerprint(dataset) == before


def test_demo_refuses_a_folder_it_did_not_make(tmp_path, cli_process):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "demo.json").write_text("{}")     # a look-alike is not enough
    hostile(cli_process, ["demo", "--workdir", tmp_path / "work"], "demo", "did not make",
            inputs=[tmp_path])


# ---- 2. Caffe's checks before Caffe; jobs never stuck "running" ------------------------------

def _solver_template(tmp_path, extra):
    text = open(os.path.join(project_paths.ROOT, "prototxt", "solver.prototxt")).read()
    path = tmp_path / "solver.prototxt"
    path.write_text(text + extra)
    return path


def test_a_solver_caffe_aborts_on_is_refused_before_any_job_folder(
        small_pair_db, tmp_path, cli_process):
    solver = _solver_template(tmp_path, 'regularization_type: "L3"\n')
    jobs_dir = tmp_path / "jobs"
    line = hostile(cli_process, ["train", small_pair_db, "--solver", solver, "--jobs-dir",
                                 jobs_dir, "--epochs", 1, "-b", 32],
                   "train", f"{solver}:", "solver", "L3", inputs=[small_pair_db, solver])
    assert "Check failed" not in line
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == []


def test_the_documented_rmsprop_works_with_the_shipped_template(small_pair_db, tmp_path,
                                                              cli_process):
    ran = cli_process("train", small_pair_db, "--solver-type", "RMSProp", "--jobs-dir",
                      tmp_path / "jobs", "--epochs", 0.2, "-b", 32, "--gpu", "cpu",
                      "--no-progress")
    assert ran.returncode == 0, ran.stderr
    assert "momentum 0.9 cleared" in ran.stdout


def test_a_network_of_test_only_layers_is_refused_before_any_job_folder(
        small_pair_db, network_text, tmp_path, cli_process):
    text = network_text.replace("layer {", "layer {\n  include { phase: TEST }")
    network = tmp_path / "test-only.prototxt"
    network.write_text(text)
    jobs_dir = tmp_path / "jobs"
    hostile(cli_process, ["train", small_pair_db, "-n", network, "--jobs-dir", jobs_dir],
            "train", str(network), inputs=[small_pair_db, network])
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == []


def test_a_shape_error_names_the_layer_and_its_line(small_pair_db, network_text, tmp_path,
                                                    cli_process):
    text = network_text.replace("kernel_size: 5", "kernel_size: 50", 1)
    network = tmp_path / "big-kernel.prototxt"
    network.write_text(text)
    line = hostile(cli_process, ["train", small_pair_db, "-n", network, "--jobs-dir",
                                 tmp_path / "jobs"], "train", inputs=[network])
    layer = next(l for l in text.splitlines() if "kernel_size: 50" in l)
    number = text.splitlines().index(layer) + 1
    assert "layer '" in line and f"{network}:" in line, line
    named = int(line.split(f"{network}:", 1)[1].split(":", 1)[0])
    assert named < number     # the line of the layer's name, just above its kernel_size


def _layer_line(text, name):
    return text.splitlines().index(f'  name: "{name}"') + 1


def _right_feature_of_three(text):
    """The right branch's feature layer with 3 outputs (params of its own), the left's 2."""
    head, right = text.split('name: "feat_right"')
    right = right.replace('"feat_w"', '"fr_w"').replace('"feat_b"', '"fr_b"').replace(
        "num_output: 2", "num_output: 3", 1)
    return head + 'name: "feat_right"' + right


@pytest.mark.parametrize("edit, layer, fragment", [
    (_right_feature_of_three, "loss", "feat_right 32x3"),     # the loss's inputs disagree
    (lambda t: t.replace("slice_point: 2", "slice_point: 5"), "slice_pair", "negative size"),
    (lambda t: t.replace("num_output: 50 kernel_size: 5", "num_output: 50 kernel_size: 13", 1),
     "conv2_left", "does not fit its input"),
])
def test_caffe_shape_errors_name_the_layer_its_line_and_its_inputs(
        small_pair_db, network_text, tmp_path, cli_process, edit, layer, fragment):
    text = edit(network_text)
    assert text != network_text
    network = tmp_path / "shapes.prototxt"
    network.write_text(text)
    line = hostile(cli_process, ["train", small_pair_db, "-n", network, "--jobs-dir",
                                 tmp_path / "jobs", "--allow-unshared", "-b", 32],
                   "train", f"{network}:{_layer_line(text, layer)}: ", f"layer '{layer}'",
                   fragment, "its inputs: ", inputs=[network, small_pair_db])
    assert "Check failed" not in line
    assert not (tmp_path / "jobs").exists() or os.listdir(tmp_path / "jobs") == []


def _copied_job(tiny_job, tmp_path):
    path = tmp_path / "jobs" / tiny_job.job_id
    shutil.copytree(tiny_job.path, path)
    return path


def _set_job(path, **facts):
    with open(path / "job.json") as f:
        info = json.load(f)
    info.update(facts)
    (path / "job.json").write_text(json.dumps(info))


def dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_job_whose_trainer_died_is_marked_failed_and_resume_says_why(
        tiny_job, tmp_path, cli_process):
    job = _copied_job(tiny_job, tmp_path)
    _set_job(job, status="running", pid=dead_pid(), message=None)
    with open(job / "caffe_output.log", "a") as log:
        log.write("# 2026-01-01 00:00:00 siamese-caffe train x: resuming from iteration 20\n"
                  "F0101 00:00:01.000000  4242 sgd_solver.cpp:194] Unknown regularization "
                  "type: L3\n")
    solver = job / "solver.prototxt"
    solver.write_text(solver.read_text() + 'regularization_type: "L3"\n')
    before = fingerprint(tiny_job.info["dataset"]["folder"])
    line = refused(cli_process("train", "--resume", job, "--no-progress"), "train",
                   "cannot continue" if False else "L3", "solver.prototxt")
    assert fingerprint(tiny_job.info["dataset"]["folder"]) == before
    with open(job / "job.json") as f:
        info = json.load(f)
    assert info["status"] == "failed" and "L3" in info["message"], info
    assert "Check failed" not in line


def test_a_trainer_killed_by_a_signal_is_failed_at_once_and_resume_continues(
        small_pair_db, tmp_path):
    """SIGABRT (a Caffe abort the probe did not foresee) kills the training process: the
    command says so in one line, job.json says Error with the signal at once, and
    --resume trains the job to its end."""
    import waiting

    jobs_dir = tmp_path / "jobs"
    command = [sys.executable, "-m", "siamese_caffe.cli", "train", small_pair_db, "--epochs",
               20, "-b", 32, "--gpu", "cpu", "--no-progress", "--jobs-dir", jobs_dir]
    trainer = subprocess.Popen(list(map(str, command)), cwd=project_paths.ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def training_pid():
        (job_file,) = jobs_dir.glob("*/job.json")
        info = json.loads(job_file.read_text())
        return info["status"] == "running" and info.get("pid") and (job_file.parent,
                                                                    info["pid"])
    try:
        job, pid = waiting.until(training_pid, "a running trainer", process=trainer)
        assert pid != trainer.pid                  # Caffe runs in a child of the command
        os.kill(pid, signal.SIGABRT)
        out, err = trainer.communicate(timeout=120)
    finally:
        trainer.kill()
    lines = err.strip().splitlines()
    assert trainer.returncode == 1 and len(lines) == 1, err
    assert lines[0].startswith("siamese-caffe train: error: training stopped by signal 6 "
                               "(SIGABRT)"), lines[0]
    assert "Traceback" not in err
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "failed" and "signal 6 (SIGABRT)" in info["message"], info
    assert f"--resume {job}" in info["message"]
    resumed = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "train", "--resume",
                              str(job), "--no-progress"], cwd=project_paths.ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((job / "job.json").read_text())
    assert info["status"] == "done" and info["iteration"] == 200, info


def test_two_resumes_of_one_job_cannot_run_at_once(tiny_job, tmp_path, cli_process):
    job = _copied_job(tiny_job, tmp_path)
    _set_job(job, status="interrupted")
    with open(job / ".train.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        refused(cli_process("train", "--resume", job, "--no-progress"), "train",
                "being trained by another process")


# ---- 3. numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["train", "db", "--epochs", "inf"], "--epochs"),
    (["train", "db", "--epochs", "nan"], "--epochs"),
    (["train", "db", "--val-interval", "1e300"], "--val-interval"),
    (["train", "db", "--seed", str(2 ** 64)], "--seed"),
    (["train", "db", "--base-lr", "inf"], "--base-lr"),
    (["train", "db", "-b", "0"], "--batch-size"),
    (["create-db", "out", "-c", str(10 ** 13)], "--count"),
    (["create-db", "out", "--positive-fraction", "nan"], "--positive-fraction"),
    (["evaluate", "--job", "j", "--threshold", "nan"], "--threshold"),
    (["infer", "--job", "j", "x.png", "--threshold", "-inf"], "--threshold"),
    (["serve", "--port", "99999"], "--port"),
    (["infer-many", "l.txt", "--job", "j", "-b", "1e9"], "--batch-size"),
])
def test_numbers_out_of_range_are_one_line(tmp_path, cli_process, args, fragment):
    line = hostile(cli_process, args, args[0], fragment, cwd=tmp_path, inputs=[tmp_path])
    assert "usage:" not in line


@pytest.mark.parametrize("field, value", [
    ("momentum", "1"), ("momentum", "-0.1"), ("momentum2", "1.5"), ("rms_decay", "1"),
    ("delta", "0"), ("weight_decay", "-0.0005"), ("clip_gradients", "0"), ("gamma", "0"),
    ("base_lr", "inf"),
])
def test_solver_values_out_of_range_name_the_file_and_line(small_pair_db, tmp_path,
                                                           cli_process, field, value):
    text = open(os.path.join(project_paths.ROOT, "prototxt", "solver.prototxt")).read()
    kept = [l for l in text.splitlines() if not l.startswith(f"{field}:")]
    solver = tmp_path / "solver.prototxt"
    solver.write_text("\n".join(kept + [f"{field}: {value}"]) + "\n")
    jobs_dir = tmp_path / "jobs"
    line = hostile(cli_process, ["train", small_pair_db, "--solver", solver, "--jobs-dir",
                                 jobs_dir], "train", f"{solver}:{len(kept) + 1}",
                   field if field != "base_lr" else "", inputs=[solver, small_pair_db])
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == []


def test_a_margin_of_zero_is_refused_at_its_layer(small_pair_db, network_text, tmp_path,
                                                  cli_process):
    network = tmp_path / "margin.prototxt"
    network.write_text(network_text.replace("{ margin: 1 }", "{ margin: 0 }"))
    assert "margin: 0" in network.read_text()
    hostile(cli_process, ["train", small_pair_db, "-n", network, "--jobs-dir",
                          tmp_path / "jobs"], "train",
            f"{network}:{_layer_line(network.read_text(), 'loss')}: layer 'loss' margin",
            inputs=[network])


def test_a_label_beyond_any_class_and_a_count_beyond_the_disk(tmp_path, cli_process,
                                                              digits_folder):
    listing = tmp_path / "big-label.txt"
    listing.write_text(f"{digits_folder}/train/0/00000.png 0\n"
                       f"{digits_folder}/train/1/00008.png {2 ** 70}\n")
    hostile(cli_process, ["create-db", tmp_path / "a", listing], "create-db",
            f"{listing}:2", "label", inputs=[tmp_path])
    hostile(cli_process, ["create-db", tmp_path / "b", "-c", 2 ** 31 - 1], "create-db",
            "free", inputs=[tmp_path])
    assert not (tmp_path / "b").exists()


# ---- 4. special files and image bombs ----------------------------------------------------------

def test_special_files_are_not_read_as_images_or_lists(tiny_job, tmp_path, cli_process):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, fragment in (("/dev/zero", "not a regular file"), (fifo, "FIFO"),
                           (tmp_path, "a folder")):
        hostile(cli_process, ["infer", "--job", tiny_job.path, path], "infer", fragment,
                timeout=60)
        hostile(cli_process, ["create-db", tmp_path / "out", path], "create-db", fragment,
                timeout=60)


def test_a_decompression_bomb_is_refused_from_its_header(tiny_job, tmp_path, cli_process):
    bomb = png_file(tmp_path / "bomb.png", 40000, 40000, zlib.compress(b"\0" * 40001 * 64))
    hostile(cli_process, ["infer", "--job", tiny_job.path, bomb], "infer", "40000x40000",
            inputs=[bomb])


def test_a_damaged_png_with_right_checksums_gives_our_line_and_no_libpng_line(
        tiny_job, tmp_path, cli_process):
    damaged = png_file(tmp_path / "damaged.png", 28, 28, b"\x78\x9c" + bytes(range(7, 250)))
    ran = cli_process("infer", "--job", tiny_job.path, damaged)
    line = refused(ran, "infer", "damaged PNG")
    assert "libpng" not in ran.stderr and str(damaged) in line


def test_a_list_with_a_bom_and_crlf_line_ends_reads_as_written(tmp_path, cli_process,
                                                               digits_folder):
    with open(os.path.join(digits_folder, "train.txt")) as f:
        lines = f.read().splitlines()
    listing = tmp_path / "windows.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(
        os.path.join(digits_folder, line) for line in lines).encode() + b"\r\n")
    ran = cli_process("create-db", tmp_path / "db", listing, "-c", 10, "--val-count", 5)
    assert ran.returncode == 0, ran.stderr
    assert f"Found {len(lines) - len(lines) // 10}" in ran.stdout or "Found" in ran.stdout


# ---- 5. the server ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_site(tiny_job, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-serve")
    jobs_dir, data = base / "jobs", base / "data"
    shutil.copytree(tiny_job.path, jobs_dir / tiny_job.job_id)
    data.mkdir()
    os.mkfifo(data / "pipe.png")
    png_file(data / "bomb.png", 40000, 40000, zlib.compress(b"\0" * 40001 * 64))
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data,
                                   "--threads", "2"], base / "logs")
    yield server, tiny_job.job_id, str(data)
    server.stop()


def healthy(server):
    status, _ = serving.call(server.url + "/healthz", timeout=15)
    return status == 200


def test_a_fifo_or_a_bomb_in_the_data_root_is_a_400_and_the_server_goes_on(hostile_site):
    server, job_id, data = hostile_site
    for _ in range(6):              # more than the request threads: none may be pinned
        for name in ("pipe.png", "bomb.png"):
            status, answer = serving.call(server.url + "/models/images/generic/infer_one.json",
                                          {"job_id": job_id, "image_path": name}, timeout=30)
            assert status == 400, (status, answer)
            assert healthy(server)


def test_idle_connections_cannot_starve_healthz(hostile_site):
    server, _, _ = hostile_site
    port = int(server.url.rsplit(":", 1)[1])
    idle = []
    try:
        for _ in range(150):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert healthy(server)
    finally:
        for sock in idle:
            sock.close()
    assert healthy(server)


def test_a_non_ascii_token_is_refused_not_a_500(tmp_path):
    """A server bound beyond loopback (all addresses) asks for its token; one that is not
    ASCII is a 401 like any wrong one."""
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "siamese_caffe.cli", "serve", "--jobs-dir", tmp_path,
             "--host", "0.0.0.0", "--port", "0", "--token", "s3cret"],
            cwd=project_paths.ROOT, env=serving.clean_env(), stdout=out,
            stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(600):
            found = [l for l in log.read_text().splitlines() if l.startswith("serving on")]
            if found:
                port = int(found[0].split(":")[2].split("/")[0])
                break
            time.sleep(0.1)
        assert port, log.read_text()
        url = f"http://127.0.0.1:{port}"
        for token in ("\u00e9t\u00e9", "s3cret\u00ff", "\u2603"):
            status, _ = serving.call(url + "/index.json", headers={
                "Authorization": "Bearer " + token.encode("utf-8").decode("latin-1")})
            assert status == 401, status
            status, _ = serving.call(url + "/index.json?token=" + urllib.parse.quote(token), timeout=15)
            assert status == 401, status
        status, _ = serving.call(url + "/healthz", timeout=15)
        assert status == 200
    finally:
        process.terminate()
        process.wait(60)


# ---- 6. messages ------------------------------------------------------------------------------

def test_a_bad_option_value_is_one_line_not_the_usage_block(tmp_path, cli_process):
    line = hostile(cli_process, ["create-db", "out", "-c", "many"], "create-db", "--count",
                   cwd=tmp_path)
    assert "usage" not in line
    hostile(cli_process, ["train", "--no-such-option"], "train", "unrecognized", cwd=tmp_path)


def test_a_bad_login_name_or_form_number_is_a_400(hostile_site):
    server, job_id, _ = hostile_site
    for name in ("Robert'); DROP", "\u00e9l\u00e8ve", "x" * 5000, ""):
        status, answer = serving.call(server.url + "/login", {"username": name})
        assert status == 400, (name, status, answer)
        assert healthy(server)
    status, answer = serving.call(server.url + "/models/images/generic.json",
                                  {"model_name": "m", "dataset": "none", "train_epochs": "1e20",
                                   "random_seed": "1" + "0" * 30})
    assert status == 400, (status, answer)
    assert healthy(server)
    status, answer = serving.call(server.url + "/models/images/generic.json",
                                  {"model_name": "m", "dataset": "none", "solver_type": "RMSPROP",
                                   "rms_decay": "1", "lr_policy": "step",
                                   "lr_step_gamma": "0"})
    assert status == 400, (status, answer)
    assert answer["errors"]["rms_decay"] == ["must be a finite number of at least 0 and "
                                             "below 1, got 1"], answer
    assert answer["errors"]["lr_step_gamma"] == ["must be a finite number above 0, got 0"]
    assert healthy(server)
