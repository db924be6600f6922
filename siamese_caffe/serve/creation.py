"""New datasets and new models from DIGITS' form fields, checked before anything is made.

Field names are DIGITS 6.1.1's (docs/rest-api.md); `method=list` for a
dataset (an image list under a data root, what `create-db` takes) is this
project's addition beside DIGITS' `prebuilt`. Every failure is a FieldErrors
{field: [message]} (DIGITS' 400 {"errors": ...}); a model's network is checked as
`siamese-caffe train` checks it (jobsetup.create_job, which also builds it in a
child Caffe), and a network message carries the line it points at.
"""

import dataclasses
import math
import os
import re
import tempfile

from ..errors import BadInputError, SiameseCaffeError
from ..runtime import atomic_files, prototxt, ranges, staging
from ..data import create_db, datasets, image_list, lmdb_reader, mean_files, pair_pictures
from ..net import netcheck
from ..train import jobsetup
from ..train.settings import sweep
from . import inputs, modelfields, registry

# DIGITS' rule for user names, at most 64 characters (a cookie holds it)
USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
NETWORK_FIELD = "custom_network"
SOLVER_TYPES = {"SGD": "SGD", "MOMENTUM": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad",
                "RMSPROP": "RMSProp", "ADADELTA": "AdaDelta", "ADAM": "Adam"}
LR_POLICIES = ("fixed", "step", "multistep", "exp", "inv", "poly", "sigmoid")
# layer types and fields that would make training read or write server files, or run code
FORBIDDEN_LAYER_TYPES = {"Python", "HDF5Output"}
FILE_FIELDS = {"source", "mean_file", "file_name", "module", "root_folder"}


class FieldErrors(SiameseCaffeError):
    """Form fields that failed: {field: [message, ...]} (HTTP 400)."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def _one(field, message):
    return FieldErrors({field: [message]})


# The largest value of the numeric form fields that feed a count, a seed or a rate: the
# bounds of the command line's options (runtime/ranges.py), so the form and the CLI agree.
FIELD_LIMITS = {"train_epochs": ranges.EPOCHS, "random_seed": ranges.SEED,
                "seed": ranges.SEED, "image_count": ranges.PAIRS,
                "val_image_count": ranges.PAIRS, "batch_size": ranges.BATCH,
                "learning_rate": ranges.LEARNING_RATE, "snapshot_interval": ranges.INTERVAL,
                "val_interval": ranges.INTERVAL}
FLOAT_FIELD_LIMIT = 1e6       # any other float field (gamma, power, rms_decay, ...)
# Solver values the form sets, judged as the command line's solver template is (net/solver.py)
FIELD_SPECS = {"rms_decay": ranges.DECAY, "lr_step_gamma": ranges.GAMMA,
               "lr_multistep_gamma": ranges.GAMMA, "lr_exp_gamma": ranges.GAMMA,
               "lr_inv_gamma": ranges.POWER, "lr_inv_power": ranges.POWER,
               "lr_poly_power": ranges.POWER, "lr_sigmoid_gamma": ranges.POWER}


def number(form, name, kind=float, default=None, minimum=None, maximum=None, errors=None):
    """A numeric field (default when empty); a message goes into `errors` when bad. Beyond
    `maximum`, the field's bound in FIELD_LIMITS applies (FLOAT_FIELD_LIMIT for others)."""
    text = (form.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise ValueError
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        errors.setdefault(name, []).append(f"Not a valid {'integer' if kind is int else 'number'}"
                                           f": {shown!r}")
        return default
    if maximum is None:
        spec = FIELD_LIMITS.get(name)
        maximum = spec.maximum if spec else (FLOAT_FIELD_LIMIT if kind is float else
                                             ranges.INT64_MAX)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = (f"at most {maximum:g}" if minimum is None else
                  f"between {minimum} and {maximum:g}")
        errors.setdefault(name, []).append(f"Number must be {bounds}.")
        return default
    if name in FIELD_SPECS:
        try:
            ranges.check(value, FIELD_SPECS[name], name)
        except BadInputError as err:
            errors.setdefault(name, []).append(str(err).split(": ", 1)[-1])
            return default
    return value


def check_username(form, args):
    """The optional DIGITS `username` (form, query string or cookie); 400 when malformed."""
    name = form.get("username") or args.get("username")
    if name and not USERNAME_RE.match(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise _one("username", f'Invalid username "{shown}": lowercase letters, digits and '
                               ". _ -, starting with a letter, at most 64 characters")
    return name or None


# ---- datasets -------------------------------------------------------------------------------

def dataset_request(form, roots):
    """(name, method, checked request dict) from a new-dataset form; FieldErrors."""
    errors = {}
    name = (form.get("dataset_name") or "").strip()
    if not name:
        errors["dataset_name"] = ["This field is required."]
    method = (form.get("method") or "prebuilt").strip()
    if method == "prebuilt":
        request = _prebuilt_request(form, roots, errors)
    elif method == "list":
        request = _list_request(form, roots, errors)
    else:
        errors["method"] = ["Not a valid choice (prebuilt or list)."]
        request = {}
    modelfields.refuse_unsupported(form, modelfields.DATASET_FIELDS, errors)
    if errors:
        raise FieldErrors(errors)
    return name, method, request


def _server_path(form, name, roots, errors, folder, required=False):
    text = (form.get(name) or "").strip()
    if not text:
        if required:
            errors.setdefault(name, []).append("This field is required.")
        return None
    try:
        real = roots.resolve(text)
    except SiameseCaffeError as err:   # pathguard.ForbiddenPathError
        errors.setdefault(name, []).append(str(err))
        return None
    if folder and not os.path.isdir(real):
        errors.setdefault(name, []).append("Folder does not exist")
    elif not folder and not os.path.isfile(real):
        errors.setdefault(name, []).append("File does not exist")
    return real


def _prebuilt_request(form, roots, errors):
    request = {}
    for field, required in (("prebuilt_train_images", True), ("prebuilt_train_labels", True),
                            ("prebuilt_val_images", False), ("prebuilt_val_labels", False)):
        request[field] = _server_path(form, field, roots, errors, True, required)
    if request["prebuilt_val_images"] and not (form.get("prebuilt_val_labels") or "").strip():
        errors.setdefault("prebuilt_val_labels", []).append(
            "required with prebuilt_val_images: a siamese dataset's labels say same/different")
    request["prebuilt_mean_file"] = _server_path(form, "prebuilt_mean_file", roots, errors, False)
    request["force_same_shape"] = (form.get("force_same_shape") or "1").strip() != "0"
    return request


def _list_request(form, roots, errors):
    list_file = _server_path(form, "list_file", roots, errors, False, required=True)
    val_list = _server_path(form, "val_list_file", roots, errors, False)
    folder = _server_path(form, "image_folder", roots, errors, True)
    request = {
        "list_file": list_file, "val_list_file": val_list, "image_folder": folder,
        "image_count": number(form, "image_count", int, 1000, 1, errors=errors),
        "val_image_count": number(form, "val_image_count", int, 1000, 1, errors=errors),
        "positive_fraction": number(form, "positive_fraction", float, None, 0.0, 1.0,
                                    errors=errors),
        "val_fraction": number(form, "val_fraction", float, 0.1, 0.0, 1.0, errors=errors),
        "seed": number(form, "seed", int, None, 0, errors=errors),
    }
    for field, path in (("list_file", list_file), ("val_list_file", val_list)):
        if path and field not in errors:
            _check_listed_paths(path, folder, roots, field, errors)
    return request


def _check_listed_paths(list_path, folder, roots, field, errors):
    """Every image a list names must lie inside a data root (checked before anything is read)."""
    try:
        paths, _, numbers = image_list.parse_list(list_path, folder)
    except BadInputError as err:
        errors.setdefault(field, []).append(str(err))
        return
    for path, line in zip(paths, numbers):
        real = os.path.realpath(path)
        if ".." in path.replace("\\", "/").split("/") or not roots.contains(real):
            errors.setdefault(field, []).append(
                f"line {line}: {path!r} is outside the server's data roots")
            return


def create_db_argv(dataset):
    """The `siamese-caffe create-db` command that builds a method=list dataset job."""
    import sys

    r = dataset.request
    argv = [sys.executable, "-m", "siamese_caffe.cli", "create-db", dataset.folder,
            r["list_file"], "-c", str(r["image_count"]), "--val-count", str(r["val_image_count"]),
            "--val-fraction", str(r["val_fraction"])]
    for option, key in (("--val-list", "val_list_file"), ("--image-folder", "image_folder"),
                        ("--positive-fraction", "positive_fraction"), ("--seed", "seed")):
        if r.get(key) is not None:
            argv += [option, str(r[key])]
    return argv


def register_prebuilt(dataset):
    """Make `dataset.folder` for prebuilt LMDBs: dataset.json naming them, the training mean
    (computed from the images when no mean file was given) and its PNG, then check it as
    training will (datasets.load_dataset). BadInputError when the LMDBs do not fit."""
    r = dataset.request
    val_images = r.get("prebuilt_val_images") or r["prebuilt_train_images"]
    val_labels = r.get("prebuilt_val_labels") or r["prebuilt_train_labels"]
    notes = [] if r.get("prebuilt_val_images") else [
        "no validation LMDBs given: validation passes run over the training LMDBs"]
    with staging.staged_folder(dataset.folder) as work:
        manifest = {"format_version": create_db.FORMAT_VERSION, "seed": None,
                    "pairing": "prebuilt", "source": {"validation": "prebuilt LMDBs"},
                    "notes": notes}
        for phase, images, labels in (("train", r["prebuilt_train_images"],
                                       r["prebuilt_train_labels"]),
                                      ("val", val_images, val_labels)):
            count, same = _label_counts(labels)
            manifest[phase] = {"image_db": images, "label_db": labels, "pairs": count,
                               "same_class_pairs": same,
                               "positive_fraction": same / count if count else None}
        mean_name = "train_mean.binaryproto"
        if r.get("prebuilt_mean_file"):
            mean = mean_files.read_binaryproto(r["prebuilt_mean_file"])
        else:
            mean = _lmdb_mean(r["prebuilt_train_images"])
        mean_files.write_binaryproto(os.path.join(work, mean_name), mean)
        pair_pictures.save_picture(os.path.join(work, "train_mean.png"),
                                   pair_pictures.pair_to_picture(mean))
        manifest["train"].update(mean_file=mean_name, mean_png="train_mean.png")
        atomic_files.write_json(os.path.join(work, "dataset.json"), manifest)
        datasets.load_dataset(work)


def _label_counts(label_db):
    """(records, same-class records) of a label LMDB (float_data 1.0 = same class)."""

    datum = prototxt.caffe_pb2().Datum()
    count = same = 0
    if not os.path.isfile(os.path.join(label_db, "data.mdb")):
        raise BadInputError("missing LMDB (no data.mdb)", where=label_db)
    with lmdb_reader.open_readonly(label_db) as env, env.begin() as txn:
        for _, value in txn.cursor():
            datum.ParseFromString(value)
            count += 1
            value = datum.float_data[0] if len(datum.float_data) else datum.label
            same += value > 0.5
    return count, int(same)


def _lmdb_mean(image_db):
    """(3, H, W) float64 mean of an LMDB of raw uint8 Datums."""
    import numpy as np

    datum = prototxt.caffe_pb2().Datum()
    total, count = None, 0
    if not os.path.isfile(os.path.join(image_db, "data.mdb")):
        raise BadInputError("missing LMDB (no data.mdb)", where=image_db)
    with lmdb_reader.open_readonly(image_db) as env, env.begin() as txn:
        for _, value in txn.cursor():
            datum.ParseFromString(value)
            shape = (datum.channels, datum.height, datum.width)
            pixels = np.frombuffer(datum.data, np.uint8)
            if datum.encoded or pixels.size != math.prod(shape):
                raise BadInputError("records are not raw pair Datums", where=image_db)
            total = pixels.astype(np.float64) if total is None else total + pixels
            count += 1
    if not count:
        raise BadInputError("the database is empty", where=image_db)
    return (total / count).reshape(shape)


# ---- models ---------------------------------------------------------------------------------

class ModelRequest:
    """A checked new-model form: name, dataset job, network text, TrainSettings and the
    solver template facts DIGITS' form sets (gamma, power, rms_decay)."""

    def __init__(self, name, dataset, network_text, settings, template_facts, group,
                 combinations=None):
        self.name = name
        self.dataset = dataset
        self.network_text = network_text
        self.settings = settings
        self.template_facts = template_facts
        self.group = group
        # [(job name, TrainSettings)]: one job per combination of a sweep's comma lists
        self.combinations = combinations or [(name, settings)]


def model_request(form, files, reg, default_gpu="auto", roots=None):
    """The ModelRequest of a new-model form (FieldErrors for every bad field). roots:
    pathguard.DataRoots the weights of custom_network_snapshot may lie in (or a job's
    folder)."""
    errors = {}
    name = (form.get("model_name") or "").strip()
    if not name:
        errors["model_name"] = ["This field is required."]
    dataset = reg.dataset((form.get("dataset") or "").strip())
    if dataset is None or dataset.state == registry.D_FAILED:   # a running one: the model waits
        errors["dataset"] = ["Not a valid choice"]
    method = (form.get("method") or "standard").strip()
    if method not in ("custom", "previous"):
        errors["method"] = ["Not a valid choice here: custom (a custom_network) or previous "
                            "(previous_networks, a model of this server)"]
    previous_text, weights = modelfields.weights_fields(form, reg, roots, errors)
    text = form.get(NETWORK_FIELD) or ""
    upload = (files.get("custom_network_file") or files.get(NETWORK_FIELD)) if files else None
    if upload and upload.filename:
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            errors.setdefault(NETWORK_FIELD, []).append("the uploaded network is not UTF-8 text")
    if method == "previous":
        text = previous_text or ""
    elif method == "custom" and not text.strip():
        errors.setdefault(NETWORK_FIELD, []).append("This field is required.")
    framework = (form.get("framework") or "caffe").strip()
    if framework != "caffe":
        errors["framework"] = ["Not a valid choice (caffe)"]
    settings, facts, (rates, batches) = _solver_settings(form, errors, default_gpu)
    modelfields.refuse_unsupported(form, modelfields.MODEL_FIELDS, errors)
    if errors:
        raise FieldErrors(errors)
    settings = dataclasses.replace(settings, weights=tuple(weights) if weights else None)
    return ModelRequest(name, dataset, text, settings, facts,
                        (form.get("group_name") or "").strip(),
                        sweep(settings, rates, batches, name))


def _solver_settings(form, errors, default_gpu):
    epochs = number(form, "train_epochs", int, 30, 1, errors=errors)
    snapshot = number(form, "snapshot_interval", float, 1.0, 0.0, errors=errors)
    val = number(form, "val_interval", float, 1.0, 0.0, errors=errors)
    seed = number(form, "random_seed", int, None, 0, errors=errors)
    batches = modelfields.number_list(form, "batch_size", int,
                                      jobsetup.TrainSettings.batch_size, 1, errors)
    rates = modelfields.number_list(form, "learning_rate", float, 0.01, 0.0, errors)
    mean, crop, accumulation = modelfields.transform_fields(form, errors)
    solver_text = (form.get("solver_type") or "SGD").strip().upper()
    solver_type = SOLVER_TYPES.get(solver_text)
    if solver_type is None:
        errors["solver_type"] = [f"Not a valid choice: {solver_text} (this Caffe has "
                                 f"{', '.join(SOLVER_TYPES)})"]
    policy = (form.get("lr_policy") or "step").strip()
    steps, facts = _policy_facts(form, policy, errors)
    if solver_type == "RMSProp":
        facts["rms_decay"] = number(form, "rms_decay", float, 0.99, errors=errors)
    gpu = modelfields.gpu_field(form, default_gpu, errors)
    for interval, field in ((snapshot, "snapshot_interval"), (val, "val_interval")):
        if interval == 0:
            errors.setdefault(field, []).append("0 (never) is not supported here; give epochs")
    settings = jobsetup.TrainSettings(
        epochs=float(epochs or 30), batch_size=batches[0],
        val_interval=val or 1.0, snapshot_interval=snapshot or 1.0, base_lr=rates[0],
        lr_policy=policy if policy in LR_POLICIES else None, solver_type=solver_type,
        lr_steps=steps, seed=seed, gpu=gpu,
        allow_unshared=inputs.flag(form, "allow_unshared"), mean=mean, crop_size=crop,
        batch_accumulation=accumulation)
    return settings, facts, (rates, batches)


def _policy_facts(form, policy, errors):
    """(lr_steps percents or None, solver template facts) of the lr_policy's fields."""
    facts = {}
    steps = None
    if policy not in LR_POLICIES:
        errors["lr_policy"] = ["Not a valid choice"]
    elif policy == "step":
        steps = (number(form, "lr_step_size", float, 33.0, 0.0, 100.0, errors=errors),)
        facts["gamma"] = number(form, "lr_step_gamma", float, 0.1, errors=errors)
    elif policy == "multistep":
        text = (form.get("lr_multistep_values") or "50,85").strip()
        try:
            steps = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            errors["lr_multistep_values"] = [f"Not a comma list of numbers: {text!r}"]
        facts["gamma"] = number(form, "lr_multistep_gamma", float, 0.5, errors=errors)
    elif policy == "exp":
        facts["gamma"] = number(form, "lr_exp_gamma", float, 0.95, errors=errors)
    elif policy == "inv":
        facts["gamma"] = number(form, "lr_inv_gamma", float, 0.1, errors=errors)
        facts["power"] = number(form, "lr_inv_power", float, 0.5, errors=errors)
    elif policy == "poly":
        facts["power"] = number(form, "lr_poly_power", float, 3.0, errors=errors)
    elif policy == "sigmoid":
        steps = (number(form, "lr_sigmoid_step", float, 50.0, 0.0, 100.0, errors=errors),)
        facts["gamma"] = number(form, "lr_sigmoid_gamma", float, 0.1, errors=errors)
    return steps, facts


def check_network_text(text):
    """Parse a network from a form and refuse what a form must not do (files, code);
    the NetParameter. BadInputError(where="custom_network:LINE")."""
    net = prototxt.parse_text(text, prototxt.caffe_pb2().NetParameter(), NETWORK_FIELD)
    for name, kind in netcheck.unknown_layer_types(net):
        raise BadInputError(f"layer '{name}' has type \"{kind}\", which this Caffe does not "
                            "have (a typo?)", where=at_line(text, name))
    for layer in net.layer:
        if layer.type in FORBIDDEN_LAYER_TYPES:
            raise BadInputError(f"layer '{layer.name}' is a {layer.type} layer: a network "
                                "given to the server may not run code or write files",
                                where=at_line(text, layer.name))
        named = _file_field(layer)
        if named:
            raise BadInputError(f"layer '{layer.name}' names a file ({named}); leave data "
                                "layers and mean files out: training adds its own from the "
                                "dataset", where=at_line(text, layer.name))
    return net


def _file_field(message):
    """'field: value' of the first file-naming string field set anywhere in `message`."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is not None:
            values = value if descriptor.label == descriptor.LABEL_REPEATED else [value]
            for item in values:
                found = _file_field(item)
                if found:
                    return found
        elif descriptor.name in FILE_FIELDS and value:
            return f"{descriptor.name}: {value!r}"
    return None


def at_line(text, layer_name):
    """`custom_network:N`, N the line declaring layer `layer_name` (or no line when not found)."""
    pattern = re.compile(r'(^|[\s{])name\s*:\s*["\']' + re.escape(layer_name) + r'["\']')
    for number_, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line.split("#", 1)[0]):
            return f"{NETWORK_FIELD}:{number_}"
    return NETWORK_FIELD


def network_error(err, text, network_path):
    """A BadInputError from checking the network, as (message, line or None) for the form."""
    message = str(err)
    where = getattr(err, "where", None) or ""
    if network_path:
        message = message.replace(network_path, NETWORK_FIELD)
        where = where.replace(network_path, NETWORK_FIELD)
    if message.startswith(f"{where}: "):
        message = message[len(where) + 2:]
    line = None
    match = re.search(r":(\d+)$", where)
    if match:
        line = int(match.group(1))
    else:
        named = re.search(r"layers? '([^']+)'", message)
        if named:
            found = re.search(r":(\d+)$", at_line(text, named.group(1)))
            line = int(found.group(1)) if found else None
    return (f"line {line}: {message}" if line else message), line


OPTION_FIELDS = {"--epochs": "train_epochs", "--batch-size": "batch_size",
                 "--val-batch-size": "batch_size", "--val-interval": "val_interval",
                 "--snapshot-interval": "snapshot_interval", "--base-lr": "learning_rate",
                 "--lr-steps": "lr_policy", "--gpu": "select_gpu", "--seed": "random_seed",
                 "--weights": "custom_network_snapshot", "--mean": "use_mean",
                 "--crop-size": "crop_size", "--batch-accumulation": "batch_accumulation"}


def create_model(request, jobs_dir, name=None, settings=None, group=None, job_id=None):
    """Check and write the job (jobsetup.create_job, as `train` does); its jobs.Job.
    name / settings / group: one combination of a sweep (default: the request's own
    settings, unnamed). job_id: the id of a waiting model's stand-in folder (waiting.py),
    which the job replaces. FieldErrors naming the field (and network line) when a check
    fails."""
    settings = settings or request.settings
    check_network(request)
    with tempfile.TemporaryDirectory(prefix="siamese-serve-") as tmp:
        network_path = os.path.join(tmp, "custom_network.prototxt")
        atomic_files.write_text(network_path, request.network_text)
        template = prototxt.read_solver(jobsetup.default_file(jobsetup.DEFAULT_SOLVER))
        for key, value in request.template_facts.items():
            if value is not None:
                setattr(template, key, value)
        template_path = os.path.join(tmp, "solver.prototxt")
        prototxt.write_text(template_path, template)
        try:
            return jobsetup.create_job(request.dataset.folder, network_path, settings,
                                       solver_template=template_path, jobs_dir=jobs_dir,
                                       name=name, group=group, job_id=job_id,
                                       replace=job_id is not None)
        except BadInputError as err:
            where = err.where or ""
            if any(where.startswith(path) for path in settings.weights or ()):
                raise _one("custom_network_snapshot", str(err)) from None
            for option, field in OPTION_FIELDS.items():
                if where == option:
                    message = str(err)[len(where) + 2:]
                    raise _one(field, message) from None
            if where.startswith(template_path):
                raise _one("solver_type", str(err).replace(template_path, "solver")) from None
            if where.startswith(request.dataset.folder) or where.startswith(
                    request.dataset.path):
                raise _one("dataset", str(err)) from None
            raise _one(NETWORK_FIELD, network_error(err, request.network_text,
                                                    network_path)[0]) from None
        except SiameseCaffeError as err:   # Caffe refused the net (netprobe), graphviz missing
            raise _one(NETWORK_FIELD, network_error(err, request.network_text,
                                                    network_path)[0]) from None


def check_network(request):
    """check_network_text on a ModelRequest's network; FieldErrors naming the line."""
    try:
        check_network_text(request.network_text)
    except BadInputError as err:
        raise _one(NETWORK_FIELD, network_error(err, request.network_text, None)[0]) from None


def default_network_text():
    return prototxt.read_text(jobsetup.default_file(jobsetup.DEFAULT_NETWORK))



def solver_settings(form, errors, default_gpu="auto"):
    """(TrainSettings, solver template facts) of a form's solver fields alone, for the
    learning-rate preview (a sweep's first combination); bad fields are added to `errors`
    ({field: [message]})."""
    settings, facts, _ = _solver_settings(form, errors, default_gpu)
    return settings, facts


NOT_CLONED = ("username", "job_id", NETWORK_FIELD, "custom_network_file")


def clone_fields(form):
    """What Clone fills in again: a model form's text fields as sent (the network is read
    back from the job's original.prototxt), {name: value}."""
    return {key: str(form.get(key)) for key in form.keys() if key not in NOT_CLONED}
