"""The learning-rate schedule: the rate Caffe's own solver prints, for every policy."""

import re

import pytest

from siamese_caffe.net import lr_schedule, solver as solvers
from siamese_caffe.runtime import caffe_log, prototxt
from siamese_caffe.train import jobs, jobsetup, trainlog, training
from siamese_caffe.train.settings import DEFAULT_SOLVER, TrainSettings, default_file

# A net Caffe can step without any data files: constant inputs, one InnerProduct, a loss.
TOY_NET = """
layer { name: "data" type: "DummyData" top: "x" top: "y"
  dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 dim: 2 }
    data_filler { type: "constant" value: 1 } data_filler { type: "constant" value: 0 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "z"
  inner_product_param { num_output: 2 weight_filler { type: "constant" value: 0.1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "z" bottom: "y" top: "loss" }
"""
MAX_ITER = 30
POLICIES = {
    "fixed": {},
    "step": {"gamma": 0.5, "stepsize": 7},
    "exp": {"gamma": 0.9},
    "inv": {"gamma": 0.1, "power": 0.75},
    "multistep": {"gamma": 0.3, "stepvalue": [5, 12, 12, 20]},
    "poly": {"power": 2.0},
    "sigmoid": {"gamma": 0.4, "stepsize": 15},
}
LR_LINE = re.compile(r"Iteration (\d+), lr = ([0-9.eE+-]+)")


def caffe_rates(log_text):
    """{iteration: rate} from the "Iteration N, lr = X" lines of Caffe's log."""
    return {int(it): float(lr) for it, lr in LR_LINE.findall(log_text)}


def toy_solver(tmp_path, policy, fields):
    pb2 = prototxt.caffe_pb2()
    (tmp_path / "net.prototxt").write_text(TOY_NET)
    param = pb2.SolverParameter(net=str(tmp_path / "net.prototxt"), base_lr=0.02,
                                lr_policy=policy, max_iter=MAX_ITER, display=1,
                                solver_mode=pb2.SolverParameter.CPU)
    for name, value in fields.items():
        if name == "stepvalue":
            param.stepvalue.extend(value)
        else:
            setattr(param, name, value)
    return param


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_each_policy_gives_the_rate_caffe_prints(caffe, tmp_path, policy):
    assert set(POLICIES) == set(solvers.LR_POLICIES)
    param = toy_solver(tmp_path, policy, POLICIES[policy])
    log = tmp_path / "caffe.log"
    with caffe_log.caffe_output_to(str(log)):
        solver = solvers.load_caffe_solver(caffe, param, str(tmp_path))
        solver.step(MAX_ITER)
    printed = caffe_rates(log.read_text())
    assert sorted(printed) == list(range(MAX_ITER))
    for iteration, value in printed.items():
        assert lr_schedule.rate(param, iteration) == pytest.approx(value, rel=2e-5), iteration
    if policy != "fixed":
        assert len(set(printed.values())) > 1          # the policy did change the rate


def test_schedule_spans_the_run_and_thins_to_points(tmp_path):
    param = toy_solver(tmp_path, "step", POLICIES["step"])
    iterations, rates = lr_schedule.schedule(param)
    assert iterations == list(range(MAX_ITER))
    assert rates[6] == pytest.approx(0.02) and rates[7] == pytest.approx(0.01)
    few, few_rates = lr_schedule.schedule(param, points=5)
    assert few[0] == 0 and few[-1] == MAX_ITER - 1 and len(few) == 5
    assert few_rates == [lr_schedule.rate(param, it) for it in few]


def test_preview_of_form_settings_follows_the_percent_steps():
    template = prototxt.read_solver(default_file(DEFAULT_SOLVER))
    plan = solvers.make_plan(1000, 100, epochs=10, batch_size=50)   # 20 iterations per epoch
    curve = lr_schedule.preview(template, plan, base_lr=0.1, lr_policy="step",
                                lr_steps=(25.0,), facts={"gamma": 0.5}, points=None)
    assert len(curve["iteration"]) == plan.max_iter == 200
    by_iteration = dict(zip(curve["iteration"], curve["learning_rate"]))
    assert by_iteration[49] == pytest.approx(0.1) and by_iteration[50] == pytest.approx(0.05)
    assert by_iteration[199] == pytest.approx(0.0125)
    assert curve["epoch"][100] == 5.0
    poly = lr_schedule.preview(template, plan, lr_policy="poly", facts={"power": 1.0})
    assert len(poly["iteration"]) == lr_schedule.PREVIEW_POINTS
    assert poly["learning_rate"][0] == pytest.approx(0.01) and poly["learning_rate"][-1] < 1e-3


def test_training_logs_the_rate_caffe_applied(small_pair_db, tmp_path):
    settings = TrainSettings(epochs=3, batch_size=32, seed=2, gpu="cpu", lr_policy="step",
                             lr_steps=(40.0,), display=1)
    job = jobsetup.create_job(small_pair_db, settings=settings, jobs_dir=str(tmp_path))
    with open(tmp_path / "out.txt", "w") as sink:
        assert training.train_job(job, progress=False, out=sink) == training.DONE
    job = jobs.Job.load(job.path)
    logged = trainlog.learning_rates(job.file("train_log"))
    with open(job.file("caffe_log")) as f:
        printed = caffe_rates(f.read())
    assert len(logged["iteration"]) >= 10 and len(set(logged["learning_rate"])) == 3   # steps at 12, 24
    # a train row at iteration N holds the rate of update N - 1, which Caffe printed
    checked = [(it, lr) for it, lr in zip(logged["iteration"], logged["learning_rate"])
               if it - 1 in printed]
    assert len(checked) >= 5
    for iteration, rate in checked:
        assert rate == pytest.approx(printed[iteration - 1], rel=1e-5)
    assert logged["epoch"][-1] == pytest.approx(3.0)


def test_an_unknown_policy_is_refused(tmp_path):
    param = toy_solver(tmp_path, "fixed", {})
    param.lr_policy = "cosine"
    with pytest.raises(Exception) as err:
        lr_schedule.rate(param, 3)
    assert "unknown lr_policy 'cosine'" in str(err.value)


@pytest.mark.parametrize("policy, fields, message", [
    ("exp", {"gamma": -0.5}, "lr_policy 'exp' needs gamma >= 0, got -0.5"),
    ("sigmoid", {"gamma": -0.1, "stepsize": 4}, "needs gamma >= 0"),
    ("step", {"gamma": 0.1, "stepsize": 0}, "lr_policy 'step' needs stepsize > 0, got 0")])
def test_fields_caffe_would_abort_on_are_refused_first(policy, fields, message, tmp_path):
    from siamese_caffe.errors import BadInputError

    param = toy_solver(tmp_path, policy, fields)
    with pytest.raises(BadInputError, match=re.escape(message)):
        lr_schedule.rate(param, 0)
    template = prototxt.read_solver(default_file(DEFAULT_SOLVER))
    template.gamma = fields["gamma"]
    if "stepsize" in fields:
        template.stepsize = fields["stepsize"]
    plan = solvers.make_plan(100, 10, epochs=1, batch_size=10)
    with pytest.raises(BadInputError, match=re.escape(message.split(",")[0])):
        solvers.solver_parameter(template, plan, seed=0, lr_policy=policy)
