"""DIGITS' model and dataset form fields beyond the solver's: each honoured or refused.

The sheet of DIGITS 6.1.1's generic dataset and model forms is listed in
`DATASET_FIELDS` and `MODEL_FIELDS` (the fields and their meaning: docs/rest-api.md and
docs/digits-fields.md). Each entry says what happens to a value sent for it:

- HONOURED: it reaches the job (the same TrainSettings `siamese-caffe train` builds);
- DEFAULT_ONLY: DIGITS' default (or empty) is accepted, since it is what this server does
  anyway; any other value is a 400 naming the field and saying why;
- REFUSED: any non-empty value is a 400.

Here live the fields `siamese-caffe train` has options for: the fine-tuning weights
(`custom_network_snapshot`, `method=previous` with `previous_networks` and
`<id>-snapshot`), `use_mean`, `crop_size`, `batch_accumulation`, comma lists in
`learning_rate` / `batch_size` (a sweep) and the GPU fields.
"""

import os

from ..errors import SiameseCaffeError
from ..net.transform import MEAN_MODES
from ..runtime import devices

HONOURED, DEFAULT_ONLY, REFUSED = "honoured", "default only", "refused"

# field -> (what happens, accepted default values, why another value is refused)
_NOT_PAIRS = "the pairs are stored raw at their own size; this setting does not apply"
DATASET_FIELDS = {
    "dataset_name": (HONOURED, (), ""), "group_name": (HONOURED, (), ""),
    "method": (HONOURED, (), ""), "prebuilt_train_images": (HONOURED, (), ""),
    "prebuilt_train_labels": (HONOURED, (), ""), "prebuilt_val_images": (HONOURED, (), ""),
    "prebuilt_val_labels": (HONOURED, (), ""), "prebuilt_mean_file": (HONOURED, (), ""),
    "force_same_shape": (HONOURED, (), ""),
    "encoding": (DEFAULT_ONLY, ("png", "none"), _NOT_PAIRS),
    "resize_channels": (DEFAULT_ONLY, ("3",), _NOT_PAIRS),
    "resize_width": (DEFAULT_ONLY, ("256",), _NOT_PAIRS),
    "resize_height": (DEFAULT_ONLY, ("256",), _NOT_PAIRS),
    "resize_mode": (DEFAULT_ONLY, ("squash",), _NOT_PAIRS),
    "clone": (REFUSED, (), "cloning a job's form is not supported here"),
}
_NO_AUG = "data augmentation is not supported (Caffe's Data layer has none)"
MODEL_FIELDS = {
    **{name: (HONOURED, (), "") for name in (
        "model_name", "group_name", "dataset", "framework", "method", "custom_network",
        "custom_network_snapshot", "previous_networks", "train_epochs", "snapshot_interval",
        "val_interval", "random_seed", "batch_size", "batch_accumulation", "learning_rate",
        "solver_type", "rms_decay", "lr_policy", "lr_step_size", "lr_step_gamma",
        "lr_multistep_values", "lr_multistep_gamma", "lr_exp_gamma", "lr_inv_gamma",
        "lr_inv_power", "lr_poly_power", "lr_sigmoid_step", "lr_sigmoid_gamma", "crop_size",
        "use_mean", "select_gpu", "select_gpu_count", "select_gpus", "select_gpus_list")},
    "pretrained_networks": (REFUSED, (), "no pretrained models are stored on this server; "
                                         "use method=previous or custom_network_snapshot"),
    "python_layer_from_client": (DEFAULT_ONLY, ("false", "0"),
                                 "a network given to the server may not run code"),
    "python_layer_client_file": (REFUSED, (), "a network given to the server may not run code"),
    "python_layer_server_file": (REFUSED, (), "a network given to the server may not run code"),
    "traces_interval": (DEFAULT_ONLY, ("0",), "layer traces are not recorded"),
    "aug_flip": (DEFAULT_ONLY, ("none",), _NO_AUG),
    "aug_quad_rot": (DEFAULT_ONLY, ("none",), _NO_AUG),
    **{name: (DEFAULT_ONLY, ("0", "0.0"), _NO_AUG) for name in (
        "aug_rot", "aug_scale", "aug_noise", "aug_contrast")},
    **{name: (DEFAULT_ONLY, ("false", "0"), _NO_AUG) for name in ("aug_whitening",
                                                                   "aug_hsv_use")},
    **{name: (DEFAULT_ONLY, default, _NO_AUG) for name, default in (
        ("aug_hsv_h", ("0.02",)), ("aug_hsv_s", ("0.04",)), ("aug_hsv_v", ("0.06",)))},
    "shuffle": (DEFAULT_ONLY, ("false", "0"), "the Data layers read the pairs in the random "
                                             "order create-db wrote; per-epoch shuffling "
                                             "is not supported"),
}


def refuse_unsupported(form, sheet, errors):
    """Add a message to `errors` for each field of `sheet` sent with a value the server
    does not honour (see the module docstring)."""
    for name, (what, defaults, why) in sheet.items():
        if what == HONOURED:
            continue
        value = (form.get(name) or "").strip()
        if value and (what == REFUSED or value.lower() not in defaults):
            errors.setdefault(name, []).append(f"{value!r} is not supported: {why}")


def number_list(form, name, kind, default, minimum, errors):
    """A DIGITS comma-list field (a sweep when it has several values): a tuple, or
    (default,) when empty."""
    text = (form.get(name) or "").strip()
    if not text:
        return (default,)
    values = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = kind(part)
        except ValueError:
            errors.setdefault(name, []).append(f"Not a comma list of numbers: {text!r}")
            return (default,)
        if value < minimum:
            errors.setdefault(name, []).append(f"each value must be at least {minimum}")
            return (default,)
        values.append(value)
    return tuple(values)


def transform_fields(form, errors):
    """(use_mean, crop_size or None, batch_accumulation) from the form."""
    mean = (form.get("use_mean") or "image").strip().lower()
    if mean not in MEAN_MODES:
        errors["use_mean"] = [f"Not a valid choice ({', '.join(MEAN_MODES)})"]
    crop = _whole(form, "crop_size", errors)
    accumulation = _whole(form, "batch_accumulation", errors) or 1
    return mean, crop, accumulation


def _whole(form, name, errors):
    text = (form.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        errors.setdefault(name, []).append(f"Not a whole number ≥ 1: {text!r}")
        return None
    return int(text)


def gpu_field(form, default_gpu, errors):
    """The --gpu value of DIGITS' GPU fields: select_gpu (next | N | cpu), or a non-empty
    select_gpu_count (1 only), or select_gpus / select_gpus_list naming one GPU."""
    count = (form.get("select_gpu_count") or "").strip()
    picked = [g.strip() for g in _all(form, "select_gpus") if g.strip()]
    picked += [g.strip() for g in (form.get("select_gpus_list") or "").split(",") if g.strip()]
    if count:
        if count != "1":
            errors["select_gpu_count"] = [devices.MULTI_GPU]
        return default_gpu
    if len(picked) > 1:
        field = "select_gpus" if _all(form, "select_gpus") else "select_gpus_list"
        errors[field] = [devices.MULTI_GPU]
        return default_gpu
    gpu = picked[0] if picked else (form.get("select_gpu") or "next").strip()
    return default_gpu if gpu in ("next", "") else gpu


def _all(form, name):
    getlist = getattr(form, "getlist", None)
    if getlist:
        return getlist(name)
    value = form.get(name)
    return value if isinstance(value, list) else ([value] if value else [])


def weights_fields(form, reg, roots, errors):
    """(network text of a previous model or None, weights paths or None) from
    custom_network_snapshot or method=previous."""
    if (form.get("method") or "").strip() == "previous":
        return _previous(form, reg, errors)
    text = (form.get("custom_network_snapshot") or "").strip()
    if not text:
        return None, None
    paths = []
    for part in (p.strip() for p in text.split(os.pathsep) if p.strip()):
        path = _weights_path(part, reg.jobs_dir, roots)
        if isinstance(path, str):
            paths.append(path)
        else:
            errors.setdefault("custom_network_snapshot", []).append(path[0])
    return None, paths or None


def _weights_path(text, jobs_dir, roots):
    """The real path of one weights file inside a data root or a job's folder, or a
    1-tuple holding why not."""
    real = os.path.realpath(text) if os.path.isabs(text) else None
    jobs_real = os.path.realpath(jobs_dir)
    if real and os.path.dirname(os.path.dirname(real)) == jobs_real:
        found = real
    else:
        try:
            found = roots.resolve(text)
        except SiameseCaffeError as err:   # pathguard.ForbiddenPathError
            return (f"{text}: {err} (or give a file in a job's folder)",)
    if not os.path.isfile(found):
        return (f"{text}: File does not exist",)
    return found


def _previous(form, reg, errors):
    """method=previous: that model's network and the snapshot `<id>-snapshot` names
    (epoch; 0: none, the network only; -1: the weights that model started from)."""
    job_id = (form.get("previous_networks") or "").strip()
    job = reg.model(job_id)
    if job is None:
        errors["previous_networks"] = ["Not a valid choice"]
        return None, None
    text = open(job.file("original"), encoding="utf-8").read()
    field = f"{job_id}-snapshot"
    epoch = (form.get(field) or "").strip()
    try:
        value = float(epoch)
    except ValueError:
        errors[field] = ["This field is required: the epoch of a snapshot (0: none)"]
        return text, None
    if value == 0:
        return text, None
    if value == -1:
        if not job.weights_path:
            errors[field] = ["-1 names the weights that model started from; it had none"]
            return text, None
        return text, [job.weights_path]
    for snapshot in job.snapshots():
        if abs(snapshot.epoch - value) < 1e-6:
            return text, [snapshot.caffemodel_path]
    have = ", ".join(f"{s.epoch:g}" for s in job.snapshots()) or "none"
    errors[field] = [f"no snapshot at epoch {epoch} (have: {have})"]
    return text, None
