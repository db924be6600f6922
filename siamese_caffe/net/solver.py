"""The solver: a training plan in epochs turned into Caffe's SolverParameter.

`make_plan` converts DIGITS-style settings (epochs, batch size, validation and
snapshot intervals in epochs) into iterations: one epoch is
ceil(train pairs / (batch size x batch accumulation)) iterations, as in DIGITS
(with batch accumulation N, Caffe's `iter_size`, one solver iteration runs N
forward/backward passes of a batch each and updates the weights once). `solver_parameter`
fills the user's solver template (prototxt/solver.prototxt) with them. The
job's solver.prototxt names its net and snapshot prefix relative to the job
folder (run `caffe train -solver solver.prototxt` from there); `runtime_copy`
makes the absolute-path copy pycaffe is given.
"""

import math
import os
from dataclasses import asdict, dataclass

from ..errors import BadInputError
from ..runtime import atomic_files, prototxt, ranges

# Fields the training command works out itself; a template must leave them unset.
DERIVED_FIELDS = ("net", "net_param", "train_net", "train_net_param", "test_net",
                  "test_net_param", "max_iter", "test_iter", "test_interval", "snapshot",
                  "snapshot_prefix", "solver_mode", "device_id", "random_seed", "train_state",
                  "test_state", "test_initialization", "iter_size")
SOLVER_TYPES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")
LR_POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")
# Default --lr-steps (percent of max_iter) per policy: DIGITS' 33 % step; multistep at
# half and three quarters; sigmoid centred on the middle of the run.
LR_STEP_DEFAULTS = {"step": (33.0,), "multistep": (50.0, 75.0), "sigmoid": (50.0,)}
TAKE_NO_MOMENTUM = ("AdaGrad", "RMSProp")   # Caffe refuses a momentum for these two
ROWS_PER_EPOCH = 10       # train-loss rows per epoch when --display is not given
SNAPSHOT_NAME = "snapshot"


@dataclass(frozen=True)
class Plan:
    """A training schedule in iterations.

    train_pairs / val_pairs: records per phase. batch_accumulation: batches per
    solver iteration (Caffe's iter_size). iterations_per_epoch:
    ceil(train_pairs / (batch_size * batch_accumulation)). max_iter: ceil(epochs * iterations_per_epoch).
    test_iter: batches per validation pass (covers every validation pair once,
    wrapping around in the last batch). test_interval / snapshot / display: in iterations.
    """

    train_pairs: int
    val_pairs: int
    epochs: float
    batch_size: int
    val_batch_size: int
    iterations_per_epoch: int
    max_iter: int
    test_iter: int
    test_interval: int
    snapshot: int
    display: int
    batch_accumulation: int = 1

    @property
    def pairs_per_iteration(self):
        """Training pairs one solver iteration reads (batch size x batch accumulation)."""
        return self.batch_size * self.batch_accumulation

    def epoch(self, iteration):
        """The epoch (float) reached after `iteration` iterations."""
        return iteration / self.iterations_per_epoch

    def as_dict(self):
        return asdict(self)


def make_plan(train_pairs, val_pairs, *, epochs, batch_size, val_batch_size=None,
              val_interval=1.0, snapshot_interval=1.0, display=None, batch_accumulation=1):
    """The Plan for these settings (BadInputError naming the option that cannot work).

    epochs, val_interval, snapshot_interval: in epochs (> 0). batch_size /
    val_batch_size: pairs per iteration (val_batch_size defaults to batch_size,
    capped at the validation set). display: iterations between train-loss rows.
    batch_accumulation: batches whose gradients add up before each update (≥ 1).
    """
    epochs = ranges.check(epochs, ranges.EPOCHS, "--epochs")
    val_interval = ranges.check(val_interval, ranges.INTERVAL, "--val-interval")
    snapshot_interval = ranges.check(snapshot_interval, ranges.INTERVAL, "--snapshot-interval")
    _batch_fits(batch_size, train_pairs, "--batch-size", "training")
    if val_batch_size is None:
        val_batch_size = min(batch_size, val_pairs)
    _batch_fits(val_batch_size, val_pairs, "--val-batch-size", "validation")
    accumulation = 1 if batch_accumulation is None else batch_accumulation
    if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
        raise BadInputError(f"must be a positive whole number, got {accumulation!r}",
                            where="--batch-accumulation")
    if batch_size * accumulation > train_pairs:
        raise BadInputError(f"{accumulation} batches of {batch_size} pairs per iteration is "
                            f"more than the training set holds ({train_pairs} pairs)",
                            where="--batch-accumulation")
    per_epoch = math.ceil(train_pairs / (batch_size * accumulation))
    if display is not None:
        display = ranges.check(display, ranges.ITERATIONS, "--display")
    max_iter = max(1, math.ceil(epochs * per_epoch))
    if max_iter > ranges.INT32_MAX:
        raise BadInputError(f"{epochs:g} epochs of {per_epoch} iterations are {max_iter:,} "
                            f"iterations, more than Caffe counts ({ranges.INT32_MAX:,})",
                            where="--epochs")
    # an interval longer than the run means at the end only (the loop always acts there)
    return Plan(train_pairs=train_pairs, val_pairs=val_pairs, epochs=float(epochs),
                batch_size=batch_size, val_batch_size=val_batch_size,
                iterations_per_epoch=per_epoch, max_iter=max_iter,
                test_iter=math.ceil(val_pairs / val_batch_size),
                test_interval=min(max_iter, max(1, round(val_interval * per_epoch))),
                snapshot=min(max_iter, max(1, round(snapshot_interval * per_epoch))),
                display=min(max_iter, int(display or max(1, per_epoch // ROWS_PER_EPOCH))),
                batch_accumulation=accumulation)


def solver_parameter(template, plan, *, seed, gpu=None, base_lr=None, lr_policy=None,
                     solver_type=None, lr_steps=None, where="solver template"):
    """The job's SolverParameter: `template` (not modified) completed from `plan`.

    seed: Caffe's random_seed. gpu: device id, or None for CPU. base_lr,
    lr_policy, solver_type: overrides. lr_steps: percents of max_iter for the
    step/multistep/sigmoid policies (defaults in LR_STEP_DEFAULTS). Returns
    (SolverParameter, notes) — notes: list of adjustments made, for the user.
    """
    _check_template(template, where)
    solver = type(template)()
    solver.CopyFrom(template)
    notes = []
    if base_lr is not None:
        solver.base_lr = ranges.check(base_lr, ranges.LEARNING_RATE, "--base-lr")
    if lr_policy is not None:
        solver.lr_policy = lr_policy
    if solver_type is not None:
        solver.type = solver_type
    _normalise_names(solver, where)
    _fill_lr_steps(solver, plan, lr_steps, where)
    if solver.type in TAKE_NO_MOMENTUM and solver.momentum:
        notes.append(f"momentum {solver.momentum:g} cleared: Caffe's {solver.type} takes none")
        solver.momentum = 0
    solver.net = "train_val.prototxt"
    solver.snapshot_prefix = SNAPSHOT_NAME
    solver.max_iter = plan.max_iter
    solver.test_iter.append(plan.test_iter)
    solver.test_interval = plan.test_interval
    solver.test_initialization = True
    solver.snapshot = plan.snapshot
    if plan.batch_accumulation > 1:
        solver.iter_size = plan.batch_accumulation
    if not solver.display:
        solver.display = plan.display
    solver.random_seed = ranges.check(seed, ranges.SEED, "--seed")
    solver.train_state.stage.append("train")
    solver.test_state.add().stage.append("val")
    solver.solver_mode = solver.CPU if gpu is None else solver.GPU
    if gpu is not None:
        solver.device_id = int(gpu)
    check_values(solver, where)
    check_policy_fields(solver, where)
    return solver, notes


VALUE_SPECS = {"momentum": ranges.DECAY, "momentum2": ranges.DECAY,
               "rms_decay": ranges.DECAY, "weight_decay": ranges.WEIGHT_DECAY,
               "delta": ranges.DELTA}


def check_values(solver, where):
    """BadInputError naming the template's file and line for a solver value Caffe would
    abort on or silently train badly with: momentum, momentum2 or rms_decay outside
    [0, 1), weight_decay below 0, delta not above 0, clip_gradients 0 (negative is
    Caffe's "off"; 0 would zero every gradient), a regularization_type other than
    Caffe's L1 and L2 (it aborts on one once weight_decay is set, ignores it otherwise)."""
    if solver.regularization_type not in ("L1", "L2"):
        raise BadInputError(f"unknown regularization_type '{solver.regularization_type}' "
                            "(Caffe has L1 and L2)", where=_at(where, "regularization_type"))
    for field, spec in VALUE_SPECS.items():
        ranges.check(getattr(solver, field), spec, f"{_at(where, field)}: {field}")
    if solver.clip_gradients == 0:
        raise BadInputError("clip_gradients 0 would scale every gradient to 0; give a "
                            "positive L2 norm, or a negative value (Caffe's default -1) "
                            "for no clipping", where=_at(where, "clip_gradients"))


def _at(where, field):
    """`where:line` of `field` in the solver file `where` (just `where` when not found)."""
    line = field_line(where, field) if where else None
    return f"{where}:{line}" if line else where


def runtime_copy(solver, job_dir):
    """A copy of the job's SolverParameter with absolute net and snapshot paths, for pycaffe.

    Caffe's own testing and snapshotting are switched off in it: the training loop
    validates and snapshots itself (to record each pass and keep only good weights).
    """
    copy = type(solver)()
    copy.CopyFrom(solver)
    copy.net = os.path.join(job_dir, solver.net)
    copy.snapshot_prefix = os.path.join(job_dir, solver.snapshot_prefix)
    copy.test_interval = copy.max_iter + 1
    copy.test_initialization = False
    copy.snapshot = 0
    copy.snapshot_after_train = False
    return copy


def _check_template(template, where):
    for field in DERIVED_FIELDS:
        descriptor = template.DESCRIPTOR.fields_by_name[field]
        is_set = (len(getattr(template, field)) if _is_repeated(descriptor)
                  else template.HasField(field))
        if is_set:
            raise BadInputError(f"sets `{field}`, which training works out itself (from the "
                                "epochs, batch size, batch accumulation, intervals, seed "
                                "and --gpu); remove it",
                                where=where)


def _is_repeated(descriptor):
    """Whether a protobuf field is repeated (works across protobuf versions)."""
    repeated = getattr(descriptor, "is_repeated", None)
    if repeated is not None:
        return repeated
    return descriptor.label == descriptor.LABEL_REPEATED


def _normalise_names(solver, where):
    """Check the solver type and lr policy against Caffe's, fixing their case."""
    types = {name.lower(): name for name in SOLVER_TYPES}
    if solver.type.lower() not in types:
        raise BadInputError(f"unknown solver type '{solver.type}' (Caffe has "
                            f"{', '.join(SOLVER_TYPES)})", where=where)
    solver.type = types[solver.type.lower()]
    if solver.lr_policy not in LR_POLICIES:
        raise BadInputError(f"unknown lr_policy '{solver.lr_policy}' (Caffe has "
                            f"{', '.join(LR_POLICIES)})", where=where)
    if not solver.base_lr > 0 and solver.type != "AdaDelta":
        raise BadInputError("base_lr must be set and above 0", where=_at(where, "base_lr"))
    if solver.iter_size < 1:
        raise BadInputError(f"iter_size must be at least 1, got {solver.iter_size}",
                            where=where)
    for field in ("base_lr", "momentum", "weight_decay", "gamma", "power", "delta",
                  "momentum2", "rms_decay", "clip_gradients"):
        if not math.isfinite(getattr(solver, field)):
            raise BadInputError(f"{field} must be a finite number, got "
                                f"{getattr(solver, field)}", where=_at(where, field))


def _fill_lr_steps(solver, plan, lr_steps, where):
    """Set stepsize / stepvalue from percents of max_iter unless the template set them."""
    policy = solver.lr_policy
    if policy not in LR_STEP_DEFAULTS:
        return
    percents = tuple(lr_steps) if lr_steps else LR_STEP_DEFAULTS[policy]
    for percent in percents:
        if not 0 < percent <= 100:
            raise BadInputError(f"step percents must be in (0, 100], got {percent:g}",
                                where="--lr-steps")
    iterations = [max(1, round(plan.max_iter * p / 100)) for p in percents]
    if policy == "multistep":
        if not len(solver.stepvalue):
            solver.stepvalue.extend(sorted(set(iterations)))
    elif not solver.HasField("stepsize"):
        solver.stepsize = iterations[0]
    if policy in ("step", "sigmoid") and not solver.HasField("gamma"):
        raise BadInputError(f"lr_policy '{policy}' needs `gamma`", where=where)


GAMMA_POLICIES = ("step", "exp", "inv", "multistep", "sigmoid")
STEPSIZE_POLICIES = ("step", "sigmoid")


def check_policy_fields(solver, where):
    """BadInputError (naming the file and line) for the lr policy fields Caffe's solver
    checks at its first update (and would abort the process on), and those that make no
    schedule: gamma below 0 (sigmoid, inv) or not above 0 (step, multistep, exp: a rate
    of 0 after the first step), power below 0 (inv, poly: a growing rate), stepsize not
    above 0, poly without max_iter."""
    policy = solver.lr_policy
    if policy in GAMMA_POLICIES and solver.gamma < 0:
        raise BadInputError(f"lr_policy '{policy}' needs gamma >= 0, got {solver.gamma:g}",
                            where=_at(where, "gamma"))
    if policy in ("step", "multistep", "exp"):
        ranges.check(solver.gamma, ranges.GAMMA, f"{_at(where, 'gamma')}: gamma")
    if policy in ("inv", "poly"):
        ranges.check(solver.power, ranges.POWER, f"{_at(where, 'power')}: power")
    if policy in STEPSIZE_POLICIES and not solver.stepsize > 0:
        raise BadInputError(f"lr_policy '{policy}' needs stepsize > 0, got {solver.stepsize}",
                            where=_at(where, "stepsize"))
    if policy == "poly" and not solver.max_iter > 0:
        raise BadInputError("lr_policy 'poly' needs max_iter > 0", where=where)


def _batch_fits(batch, pairs, option, phase):
    ranges.check(batch, ranges.BATCH, option)
    if batch > pairs:
        raise BadInputError(f"{batch} pairs per batch is more than the {phase} set holds "
                            f"({pairs} pairs)", where=option)


def field_line(template_path, message):
    """The line (from 1) of the solver template field Caffe's `message` names (e.g.
    "Unknown regularization type" → `regularization_type:`), or None."""
    import re

    lowered = message.lower()
    fields = [f.name for f in prototxt.caffe_pb2().SolverParameter.DESCRIPTOR.fields
              if f.name.replace("_", " ") in lowered or f.name in lowered]
    if "solver type" in lowered or "solver_type" in lowered:
        fields.append("type")
    try:
        with open(template_path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for name in sorted(fields, key=len, reverse=True):
        pattern = re.compile(rf"^\s*{name}\s*:")
        found = [number for number, line in enumerate(lines, start=1) if pattern.match(line)]
        if found:
            return found[-1]          # the value in force: the text format's last one
    return None


def load_caffe_solver(caffe, param, folder):
    """A pycaffe solver built from SolverParameter `param`, through a temporary prototxt in
    `folder` (pycaffe reads solvers only from files); the file is removed afterwards."""
    path = atomic_files.temporary_path(os.path.join(folder, "solver-runtime.prototxt"))
    prototxt.write_text(path, param)
    try:
        return caffe.get_solver(path)
    finally:
        os.remove(path)
