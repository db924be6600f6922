"""Epoch-based settings become the iterations Caffe's solver counts in."""

import pytest

import project_paths
from siamese_caffe.runtime import prototxt
from siamese_caffe.net import solver
from siamese_caffe.errors import BadInputError


def template(text='type: "SGD" base_lr: 0.01 lr_policy: "step" gamma: 0.1 momentum: 0.9'):
    return prototxt.parse_text(text, prototxt.caffe_pb2().SolverParameter(), "t.prototxt")


def test_plan_counts_epochs_as_digits_did():
    plan = solver.make_plan(1000, 300, epochs=3, batch_size=64, val_interval=1,
                            snapshot_interval=2)
    assert plan.iterations_per_epoch == 16          # ceil(1000 / 64)
    assert plan.max_iter == 48
    assert plan.test_interval == 16 and plan.snapshot == 32
    assert plan.val_batch_size == 64 and plan.test_iter == 5   # ceil(300 / 64)
    assert plan.display == 1
    assert plan.epoch(24) == 1.5


def test_fractional_epochs_and_small_validation_set():
    plan = solver.make_plan(100, 10, epochs=0.5, batch_size=32)
    assert plan.max_iter == 2 and plan.val_batch_size == 10 and plan.test_iter == 1


@pytest.mark.parametrize("kwargs, where", [
    (dict(epochs=0, batch_size=8), "--epochs"),
    (dict(epochs=-1, batch_size=8), "--epochs"),
    (dict(epochs=1, batch_size=0), "--batch-size"),
    (dict(epochs=1, batch_size=8, val_interval=0), "--val-interval"),
    (dict(epochs=1, batch_size=8, val_batch_size=51), "--val-batch-size"),
])
def test_impossible_plans_name_the_option(kwargs, where):
    with pytest.raises(BadInputError, match=f"^{where}: "):
        solver.make_plan(100, 50, **kwargs)


def test_batch_larger_than_the_dataset():
    with pytest.raises(BadInputError, match=r"--batch-size: 64 pairs per batch is more than the "
                                            r"training set holds \(50 pairs\)"):
        solver.make_plan(50, 50, epochs=1, batch_size=64)


def test_solver_parameter_derives_steps_and_keeps_template_values():
    plan = solver.make_plan(1000, 300, epochs=3, batch_size=64)
    param, notes = solver.solver_parameter(template(), plan, seed=7)
    assert param.max_iter == 48 and param.stepsize == 16    # 33 % of 48
    assert list(param.test_iter) == [5] and param.test_interval == 16
    assert param.snapshot == 16 and param.snapshot_prefix == "snapshot"
    assert param.net == "train_val.prototxt" and param.random_seed == 7
    assert param.momentum == pytest.approx(0.9) and param.solver_mode == param.CPU
    assert list(param.train_state.stage) == ["train"]
    assert list(param.test_state[0].stage) == ["val"]
    assert notes == []


def test_overrides_and_multistep():
    plan = solver.make_plan(1000, 300, epochs=4, batch_size=100)
    param, _ = solver.solver_parameter(template(), plan, seed=1, base_lr=0.05,
                                       lr_policy="multistep", solver_type="nesterov",
                                       lr_steps=(25, 50), gpu=0)
    assert param.base_lr == pytest.approx(0.05) and param.type == "Nesterov"
    assert list(param.stepvalue) == [10, 20]
    assert param.solver_mode == param.GPU and param.device_id == 0


def test_adagrad_drops_momentum_with_a_note():
    plan = solver.make_plan(100, 10, epochs=1, batch_size=10)
    param, notes = solver.solver_parameter(template(), plan, seed=1, solver_type="AdaGrad")
    assert param.momentum == 0 and "AdaGrad" in notes[0]


@pytest.mark.parametrize("text, match", [
    ('base_lr: 0.01 lr_policy: "fixed" max_iter: 100', "sets `max_iter`"),
    ('base_lr: 0.01 lr_policy: "fixed" test_iter: 3', "sets `test_iter`"),
    ('base_lr: 0.01 lr_policy: "fixed" type: "Adamax"', "unknown solver type 'Adamax'"),
    ('base_lr: 0.01 lr_policy: "cosine"', "unknown lr_policy 'cosine'"),
    ('lr_policy: "fixed"', "base_lr must be set"),
])
def test_bad_templates(text, match):
    plan = solver.make_plan(100, 10, epochs=1, batch_size=10)
    with pytest.raises(BadInputError, match=match):
        solver.solver_parameter(template(text), plan, seed=1, where="t.prototxt")


def test_runtime_copy_is_absolute_and_leaves_testing_to_the_loop():
    plan = solver.make_plan(100, 10, epochs=2, batch_size=10)
    param, _ = solver.solver_parameter(template(), plan, seed=1)
    copy = solver.runtime_copy(param, "/jobs/x")
    assert copy.net == "/jobs/x/train_val.prototxt" and copy.snapshot_prefix == "/jobs/x/snapshot"
    assert copy.test_interval > copy.max_iter and copy.snapshot == 0
    assert param.net == "train_val.prototxt"     # the job's own copy is untouched


def test_shipped_template_is_accepted(network_text):
    import os
    root = project_paths.ROOT
    shipped = prototxt.read_solver(os.path.join(root, "prototxt", "solver.prototxt"))
    plan = solver.make_plan(20000, 1000, epochs=30, batch_size=64)
    param, _ = solver.solver_parameter(shipped, plan, seed=1)
    assert param.type == "SGD" and param.lr_policy == "step"
    assert param.stepsize == round(0.33 * plan.max_iter)
