"""Staged folders and atomic files: whole or absent, and a killed run's leftovers removed."""

import os
import subprocess

import pytest

from siamese_caffe.runtime import atomic_files, staging


def dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_staged_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staging.staged_folder(str(target)) as work:
            (tmp_path / "seen").write_text(os.path.basename(work))
            open(os.path.join(work, "a"), "w").close()
            raise RuntimeError("stop")
    assert os.listdir(tmp_path) == ["seen"]
    assert (tmp_path / "seen").read_text().startswith(f".out.tmp-{os.getpid()}-")
    with staging.staged_folder(str(target)) as work:
        open(os.path.join(work, "a"), "w").close()
    assert sorted(os.listdir(tmp_path)) == ["out", "seen"]


def test_leftovers_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead, live = dead_pid(), os.getppid()
    stale_folder = tmp_path / f".out.tmp-{dead}-abc123"
    stale_folder.mkdir()
    (stale_folder / "data.mdb").write_bytes(b"x" * 1000)
    stale_file = tmp_path / f".job.tmp-{dead}.json"
    stale_file.write_text("{")
    stale_snapshot = tmp_path / f".snapshot.tmp-{dead}_iter_20.caffemodel"
    stale_snapshot.write_bytes(b"partial")
    busy = tmp_path / f".out.tmp-{live}-def456"        # another process is filling it
    busy.mkdir()
    mine = tmp_path / f".out.tmp-{os.getpid()}-ghi789"
    mine.mkdir()
    unrelated = tmp_path / ".config.tmp-notapid"
    unrelated.write_text("")
    with staging.staged_folder(str(tmp_path / "out")) as work:
        open(os.path.join(work, "a"), "w").close()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [busy.name, mine.name, unrelated.name, "out"])


def test_replacing_removes_its_own_stale_temporary(tmp_path):
    stale = tmp_path / f".report.tmp-{dead_pid()}.json"
    stale.write_text("half")
    other = tmp_path / f".other.tmp-{dead_pid()}.json"
    other.write_text("half")
    atomic_files.write_json(str(tmp_path / "report.json"), {"a": 1})
    assert sorted(os.listdir(tmp_path)) == [other.name, "report.json"]


def test_temporary_names_carry_the_owner(tmp_path):
    path = atomic_files.temporary_path(str(tmp_path / "job.json"))
    assert atomic_files.owner_pid(os.path.basename(path)) == os.getpid()
    assert atomic_files.owner_pid("job.json") is None
    assert atomic_files.owner_pid(".snapshot.tmp-42_iter_7.solverstate") == 42
