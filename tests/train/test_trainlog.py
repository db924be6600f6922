"""train_log.csv: rows written, read back, and cut back for a resume."""

from siamese_caffe.train import trainlog


def test_rows_round_trip_and_truncate(tmp_path):
    path = str(tmp_path / "train_log.csv")
    with trainlog.TrainLog(path) as log:
        log.write(iteration=0, epoch=0.0, phase="val", loss=0.5, same_distance=0.4,
                  different_distance=0.9, elapsed_s=0.1)
        for i in range(1, 5):
            log.write(iteration=i, epoch=i / 2, phase="train", loss=1.0 / i, learning_rate=0.01,
                      elapsed_s=float(i))
    rows = trainlog.read_rows(path)
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["phase"] == "val" and rows[0]["learning_rate"] is None
    assert rows[2]["loss"] == 0.5 and rows[2]["epoch"] == 1.0
    trainlog.truncate_after(path, 2)
    assert [r["iteration"] for r in trainlog.read_rows(path)] == [0, 1, 2]
    assert trainlog.last_elapsed(path) == 2.0
    with trainlog.TrainLog(path) as log:     # appending keeps a single header
        log.write(iteration=3, epoch=1.5, phase="train", loss=0.1)
    with open(path) as f:
        assert f.read().count("iteration,epoch") == 1


def test_missing_log_reads_as_empty(tmp_path):
    assert trainlog.read_rows(str(tmp_path / "none.csv")) == []
    assert trainlog.last_elapsed(str(tmp_path / "none.csv")) == 0.0


def test_half_written_and_damaged_rows_are_skipped_and_dropped_on_resume(tmp_path):
    path = str(tmp_path / "train_log.csv")
    with trainlog.TrainLog(path) as log:
        for i in range(1, 4):
            log.write(iteration=i, epoch=i / 2, phase="train", loss=1.0, elapsed_s=float(i))
    with open(path, "ab") as f:
        f.write(b"garbage,\xff\x00,row\n4,2.0,tr")        # a damaged row, a kill mid-row
    assert [r["iteration"] for r in trainlog.read_rows(path)] == [1, 2, 3]
    assert trainlog.last_elapsed(path) == 3.0
    trainlog.truncate_after(path, 2)
    with open(path) as f:
        assert f.read().splitlines()[1:] == ["1,0.5,train,1,,,,1", "2,1,train,1,,,,2"]
