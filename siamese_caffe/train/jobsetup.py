"""Making a training job folder: check everything first, then write it whole.

`create_job` reads the dataset (datasets.py) and the user's network
(prototxt.py, netcheck.py), plans the solver (solver.py), wraps the network
(wrap.py), builds the result once in a child Caffe (netprobe.py) to catch what
only Caffe can tell, checks that the two branches share their params, draws
network.png, writes the fine-tuning weights (weights.py) and job.json — all in a
temporary folder beside
``jobs/<job_id>`` that is renamed into place at the end, so bad input leaves
no half-made job. The layout is described in jobs.py.
"""

import datetime
import math
import os
import secrets
from dataclasses import asdict, dataclass

from ..errors import BadInputError
from ..runtime import atomic_files, devices, netprobe, prototxt, staging
from ..data import datasets, mean_files
from ..net import drawnet, netcheck, solver, transform, wrap
from . import jobfiles, jobs, weights
from .settings import DEFAULT_NETWORK, DEFAULT_SOLVER, TrainSettings, default_file

@dataclass
class JobDraft:
    """Everything checked and worked out for a job before its folder is written."""

    dataset: datasets.Dataset
    network_path: str
    original_text: str
    user_net: object          # caffe_pb2.NetParameter
    info: netcheck.NetInfo
    plan: solver.Plan
    device: object            # GPU id or None
    seed: int
    solver_param: object      # caffe_pb2.SolverParameter
    notes: list
    solver_template: str
    nets: dict                # {"train_val": NetParameter, "deploy": NetParameter}
    transform: transform.Transform


def create_job(dataset_dir, network_path=None, settings=None, solver_template=None,
               jobs_dir=jobs.DEFAULT_JOBS_DIR, job_id=None, name=None, group=None,
               replace=False):
    """Check the inputs, write ``jobs_dir/<job_id>/`` and return its jobs.Job (status "created").

    name / group: the job's name and the group it belongs to (a sweep's jobs share one),
    recorded in job.json; None: unnamed, in no group. replace: the folder may already be a
    job folder this tool made (a server's stand-in for a model waiting for its dataset),
    which the new job replaces.
    """
    settings = settings or TrainSettings()
    network_path = network_path or default_file(DEFAULT_NETWORK)
    solver_template = solver_template or default_file(DEFAULT_SOLVER)
    job_id = job_id or jobs.new_job_id()
    final = os.path.join(jobs_dir, job_id)
    staging.check_output(final, "job", force=replace,
                         inputs=[dataset_dir, network_path, solver_template],
                         input_folders=[dataset_dir])
    draft = draft_job(dataset_dir, network_path, settings, solver_template)
    if os.path.lexists(final) and not replace:
        raise BadInputError("a job with this id already exists", where=final)
    with staging.staged_folder(final, force=replace, kind="job") as work:
        _write_files(work, draft)
        network, train_layers = _probe_and_check(work, draft, settings.allow_unshared)
        drawnet.draw_net(draft.nets["train_val"], os.path.join(work, jobs.FILES["network_plot"]))
        info = _job_info(job_id, draft, network, settings)
        info.update(name=name, group=group)
        if settings.weights:
            info["weights"] = _write_weights(work, settings.weights, train_layers)
        info["files"] = jobfiles.prototxt_digests(work)
        jobs.Job(work, info).save()
    return jobs.Job.load(final)


def draft_job(dataset_dir, network_path, settings, solver_template):
    """Read and check the dataset, network and settings (no Caffe build yet); a JobDraft."""
    dataset = datasets.load_dataset(dataset_dir)
    original_text = prototxt.read_text(network_path)
    user_net = prototxt.parse_text(original_text, prototxt.caffe_pb2().NetParameter(),
                                   network_path)
    info = netcheck.check_structure(user_net, network_path)
    plan = solver.make_plan(dataset.counts["train"], dataset.counts["val"],
                            epochs=settings.epochs, batch_size=settings.batch_size,
                            val_batch_size=settings.val_batch_size,
                            val_interval=settings.val_interval,
                            snapshot_interval=settings.snapshot_interval,
                            display=settings.display,
                            batch_accumulation=settings.batch_accumulation)
    shape = dataset.image_shape
    crop = transform.make_transform(
        settings.mean, settings.crop_size, shape,
        mean_files.read_binaryproto(dataset.mean_file) if settings.mean == "pixel" else None)
    device = devices.choose_device(settings.gpu)
    seed = settings.seed if settings.seed is not None else secrets.randbelow(2 ** 31)
    solver_param, notes = solver.solver_parameter(
        prototxt.read_solver(solver_template), plan, seed=seed, gpu=device,
        base_lr=settings.base_lr, lr_policy=settings.lr_policy,
        solver_type=settings.solver_type, lr_steps=settings.lr_steps, where=solver_template)
    nets = {"train_val": wrap.train_val_net(user_net, dataset, plan.batch_size,
                                            plan.val_batch_size, crop),
            "deploy": wrap.deploy_net(user_net, crop.input_shape)}
    return JobDraft(dataset, network_path, original_text, user_net, info, plan, device, seed,
                    solver_param, notes, solver_template, nets, crop)


def _write_weights(folder, paths, train_layers):
    """Check the fine-tuning weights against the net Caffe built and write the layers that
    fit to weights.caffemodel; job.json's `weights` section (with the report lines)."""
    plan = weights.plan_weights(list(paths), train_layers)
    record = plan.as_record()
    record["digest"] = weights.write_weights(plan, folder)
    record["report"] = plan.report()
    return record


def _write_files(folder, draft):
    atomic_files.write_text(os.path.join(folder, jobs.FILES["original"]), draft.original_text)
    prototxt.write_text(os.path.join(folder, jobs.FILES["train_val"]), draft.nets["train_val"],
                        header="The network wrapped for training by siamese-caffe train: "
                               "Data layers for both phases, then original.prototxt.")
    prototxt.write_text(os.path.join(folder, jobs.FILES["deploy"]), draft.nets["deploy"],
                        header="The network for inference: pairs in (mean subtracted and centre-"
                               "cropped as job.json's transform says), features out.")
    prototxt.write_text(os.path.join(folder, jobs.FILES["solver"]), draft.solver_param,
                        header="Run from this folder: caffe train -solver solver.prototxt")


def _probe_and_check(folder, draft, allow_unshared):
    """Build the job's solver and deploy net in a child Caffe; (the job.json 'network' dict,
    the train net's layers as netprobe describes them)."""
    runtime = os.path.join(folder, ".probe-solver.prototxt")
    prototxt.write_text(runtime, solver.runtime_copy(
        prototxt.read_solver(os.path.join(folder, jobs.FILES["solver"])), folder))
    deploy_path = os.path.join(folder, jobs.FILES["deploy"])
    try:
        trained, deployed = netprobe.probe([("solver", runtime, {"step": True}),
                                            ("net", deploy_path, "test", [])])
    except netprobe.CaffeRejectedError as err:
        raise blame(err, draft) from None
    finally:
        os.remove(runtime)
    info, network_path = draft.info, draft.network_path
    shared = netcheck.check_sharing(draft.user_net, info, netcheck.param_counts(trained["train"]),
                                    network_path, allow_unshared)
    blobs = deployed["blobs"]
    for blob in info.feature_blobs:
        if blob not in blobs:
            raise BadInputError(f"the deploy net has no feature blob '{blob}' (it depends on "
                                "the label); compute the features from `data` alone",
                                where=network_path)
    dims = [blobs[blob][1:] for blob in info.feature_blobs]
    facts = {"source": os.path.abspath(network_path),
             "feature_blobs": list(info.feature_blobs), "feature_dim": int(math.prod(dims[0])),
             "margin": info.margin, "legacy_loss": info.legacy_loss,
             "loss_layer": info.loss_layer, "loss_top": info.loss_top,
             "input_blob": netcheck.INPUT_BLOB, "label_blob": netcheck.LABEL_BLOB,
             "shared_layers": [list(pair) for pair in shared],
             "param_shapes": {layer["name"]: layer["blobs"] for layer in deployed["layers"]}}
    return facts, trained["train"]["layers"]


def blame(err, draft):
    """Caffe's refusal (netprobe.CaffeRejectedError) naming the user's file: the solver
    template (and the line of the field Caffe's message names) when Caffe's check is in
    its solver code, else the network (and the line of the layer being set up)."""
    if err.about_solver:
        line = solver.field_line(draft.solver_template, err.reason)
        where = f"{draft.solver_template}:{line}" if line else draft.solver_template
        return netprobe.CaffeRejectedError(err.reason, where=where, about_solver=True)
    line = err.layer and netprobe.line_of_layer(draft.original_text, err.layer)
    where = f"{draft.network_path}:{line}" if line else draft.network_path
    return netprobe.CaffeRejectedError(err.reason, where=where, layer=err.layer)


def _job_info(job_id, draft, network, settings):
    """The initial job.json dict."""
    dataset, param = draft.dataset, draft.solver_param
    return {
        "job_id": job_id,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "status": jobs.CREATED, "message": None, "pid": None,
        "dataset": {"folder": dataset.folder, "mean_file": dataset.mean_file,
                    "image_shape": list(dataset.image_shape),
                    "train_pairs": dataset.counts["train"], "val_pairs": dataset.counts["val"],
                    "identity": datasets.identity(dataset.manifest)},
        "network": network,
        "transform": draft.transform.as_dict(),
        "plan": draft.plan.as_dict(),
        "settings": {**asdict(settings), "seed": draft.seed,
                     "device": devices.describe(draft.device),
                     "solver_template": os.path.abspath(draft.solver_template),
                     "solver_type": param.type, "base_lr": float(f"{param.base_lr:.7g}"),
                     "lr_policy": param.lr_policy, "notes": draft.notes},
        "snapshots": [],
        "iteration": 0,
    }
