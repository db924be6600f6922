"""The learning rate Caffe's solver uses at each iteration, for a SolverParameter.

Caffe works the rate out from the solver's `lr_policy` before every update
(SGDSolver::GetLearningRate) and prints it to its log ("Iteration N, lr = X")
every `display` iterations, but pycaffe does not expose it. `rate(solver, it)`
gives the same number from the solver's fields, for each policy the project
supports (solver.LR_POLICIES), with it = the iteration about to be computed
(0 for the first update):

    fixed       base_lr
    step        base_lr * gamma ^ floor(it / stepsize)
    exp         base_lr * gamma ^ it
    inv         base_lr * (1 + gamma * it) ^ (-power)
    multistep   base_lr * gamma ^ (number of stepvalue entries passed, see multistep_count)
    poly        base_lr * (1 - it / max_iter) ^ power
    sigmoid     base_lr / (1 + exp(-gamma * (it - stepsize)))

`schedule` gives the curve over a whole run (what the New Model form previews),
`preview` the curve of DIGITS-style form settings before any job exists.
Fields Caffe's solver would abort on (a negative gamma, a stepsize of 0) are refused
first, here and when a job is made (solver.check_policy_fields).
"""

import math

from ..errors import BadInputError
from . import solver as solvers

PREVIEW_POINTS = 100      # points of a previewed curve (DIGITS drew about as many)


def rate(solver, iteration):
    """The rate (float) Caffe applies at update `iteration` (0-based) of `solver`
    (a caffe_pb2.SolverParameter); BadInputError for a policy Caffe does not have."""
    solvers.check_policy_fields(solver, "lr_policy")
    policy = solver.lr_policy
    base, gamma, power = solver.base_lr, solver.gamma, solver.power
    it = int(iteration)
    if policy == "fixed":
        return base
    if policy == "step":
        return base * gamma ** (it // solver.stepsize)
    if policy == "exp":
        return base * gamma ** it
    if policy == "inv":
        return base * (1.0 + gamma * it) ** (-power)
    if policy == "multistep":
        return base * gamma ** multistep_count(solver.stepvalue, it)
    if policy == "poly":
        return base * max(0.0, 1.0 - it / solver.max_iter) ** power
    if policy == "sigmoid":
        return base / (1.0 + math.exp(-gamma * (it - solver.stepsize)))
    raise BadInputError(f"unknown lr_policy '{policy}' (Caffe has "
                        f"{', '.join(solvers.LR_POLICIES)})", where="lr_policy")


def schedule(solver, points=None):
    """The rate over a run of solver.max_iter iterations: (iterations [int], rates [float]).

    points: how many evenly spaced iterations to give (None: every iteration); the
    first (0) and the last (max_iter - 1) are always among them."""
    last = max(0, int(solver.max_iter) - 1)
    if points is None or points >= last + 1:
        iterations = list(range(last + 1))
    else:
        count = max(2, int(points))
        iterations = sorted({round(k * last / (count - 1)) for k in range(count)})
    return iterations, [rate(solver, it) for it in iterations]


def preview(template, plan, *, base_lr=None, lr_policy=None, lr_steps=None, facts=None,
            points=PREVIEW_POINTS):
    """The schedule a job with these settings would get, before it exists.

    template: the solver template (SolverParameter, not modified); plan: solver.Plan;
    base_lr, lr_policy, lr_steps: as train's options; facts: other solver fields the
    form sets ({"gamma": 0.1, "power": 3}). Returns {"iteration": [...], "epoch":
    [...], "learning_rate": [...]} (epochs = iteration / iterations per epoch)."""
    filled = type(template)()
    filled.CopyFrom(template)
    for name, value in (facts or {}).items():
        if value is not None:
            setattr(filled, name, value)
    param, _ = solvers.solver_parameter(filled, plan, seed=0, base_lr=base_lr,
                                        lr_policy=lr_policy, lr_steps=lr_steps,
                                        where="the solver settings")
    iterations, rates = schedule(param, points)
    return {"iteration": iterations,
            "epoch": [plan.epoch(it) for it in iterations],
            "learning_rate": rates}


def multistep_count(stepvalues, iteration):
    """How many of `stepvalues` Caffe's multistep policy has passed at `iteration`: it
    moves on at most one value per iteration, when the iteration reaches the next value
    (so for increasing values, the number of values <= iteration)."""
    count, free_from = 0, 0
    while count < len(stepvalues):
        moves_at = max(free_from, stepvalues[count])
        if moves_at > iteration:
            break
        count, free_from = count + 1, moves_at + 1
    return count
