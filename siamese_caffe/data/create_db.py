"""create-db: the siamese pair dataset Caffe trains on, laid out as DIGITS made it.

One public entry point, `create_db`, writes into a new folder:

    train_images/ train_labels/ val_images/ val_labels/   LMDBs of Caffe Datums, same keys
    train_mean.binaryproto val_mean.binaryproto (+ .png)  mean pair per phase
    {train,val}_test_{same,different}_class_{0..9}.png    the first pairs of each kind
    dataset.json                                          the manifest returned

dataset.json records, per phase, the SHA-256 of every record written ("sha256": the
content's fingerprint) and when the folder was made: jobs record both, so a dataset
replaced under a job (`create-db --force`) is told from the one it trained on, while
an identical rebuild (the same --seed and images) is recognised as the same data.

Everything is built in a temporary folder beside the target and renamed into
place at the end, so an error or an interrupt leaves nothing half-written.
"""

import datetime
import json
import os
import secrets

import numpy as np

from ..errors import BadInputError, OutputError
from ..runtime import ranges, staging
from . import image_sources, mean_files, pair_lmdb, pair_pictures, pairs

FORMAT_VERSION = 1
KIND = "dataset"          # the output guard's name for a create-db folder (staging.py)
TEST_IMAGE_COUNT = 10     # DIGITS saved ten same-class and ten different-class pairs per phase
DEFAULT_VAL_FRACTION = 0.1  # share of each class held out when no validation set is given
RECORD_EXTRA = 160        # bytes per pair beyond its pixels: two Datums' fields, keys, LMDB pages


def create_db(output_dir, train_set, *, count, val_count=1000, val_set=None,
              val_fraction=DEFAULT_VAL_FRACTION, positive_fraction=None, seed=None,
              force=False, batch_records=pair_lmdb.BATCH_RECORDS, log=None, progress=False):
    """Write a pair dataset into `output_dir` and return its manifest (also dataset.json).

    train_set / val_set: ImageSets of one image size. Validation pairs come from
    val_set, or when it is None from a stratified held-out share (val_fraction) of
    train_set's images, removed from training. count / val_count: pairs per phase
    (≥ 1). positive_fraction: None for DIGITS' uniform pairs, else the exact share
    of same-class pairs. seed: int for a reproducible dataset (drawn and recorded
    when None). force: replace an existing output_dir. log: callable(str) for
    progress lines; progress: show tqdm bars on stderr.
    """
    log = log or (lambda message: None)
    check_request(output_dir, count, val_count, positive_fraction, force)
    output_dir = os.path.abspath(output_dir)
    seed = secrets.randbits(32) if seed is None else _check_seed(seed)
    check_space(output_dir, train_set.shape, count, val_count)
    split_rng, train_rng, val_rng = (np.random.default_rng(s)
                                     for s in np.random.SeedSequence(seed).spawn(3))
    sets, source = _phase_sets(train_set, val_set, val_fraction, split_rng)
    notes = _notes(train_set, val_set, source)
    for note in notes:
        log(f"note: {note}")
    manifest = {"format_version": FORMAT_VERSION, "seed": seed,
                "created": datetime.datetime.now().isoformat(timespec="seconds"),
                "pairing": "uniform" if positive_fraction is None else "balanced",
                "requested_positive_fraction": positive_fraction,
                "pair": _pair_format(train_set.shape), "source": source, "notes": notes}
    with staging.staged_folder(output_dir, force, kind=KIND) as work:
        try:
            for phase, rng, phase_count in (("train", train_rng, count),
                                            ("val", val_rng, val_count)):
                log(f"Will create {phase_count} pairs of {phase} images "
                    f"(from {len(sets[phase])} images)")
                manifest[phase] = _write_phase(work, phase, sets[phase], phase_count,
                                               positive_fraction, rng, batch_records, progress)
        except OutputError as err:     # name the target, not the staging folder
            where = err.where and os.path.join(output_dir, os.path.relpath(err.where, work))
            raise OutputError(err.message, where=where) from None
        with open(os.path.join(work, "dataset.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
    return manifest


def check_request(output_dir, count, val_count, positive_fraction=None, force=False):
    """BadInputError for an existing output folder (unless force), pair counts under 1
    or a positive fraction outside [0, 1]; cheap, so callers may check before loading images."""
    staging.check_free(output_dir, force, kind=KIND)
    for name, value in (("-c/--count", count), ("--val-count", val_count)):
        if isinstance(value, float):
            raise BadInputError(f"the number of pairs must be a whole number, got {value!r}",
                                where=name)
        ranges.check(value, ranges.PAIRS, name)
    if positive_fraction is not None:
        ranges.check(positive_fraction, ranges.FRACTION, "--positive-fraction")


def check_space(output_dir, shape, count, val_count):
    """BadInputError when the disk under `output_dir` cannot hold the pairs asked for:
    each pair is 3 x H x W bytes in the image LMDB plus its label (about RECORD_EXTRA
    bytes of Datum and LMDB overhead each), written before anything else."""
    import shutil

    height, width = (int(v) for v in shape)
    need = (count + val_count) * (3 * height * width + RECORD_EXTRA)
    parent = os.path.dirname(os.path.abspath(output_dir))
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    free = shutil.disk_usage(parent).free
    if need > free:
        raise BadInputError(f"{count:,} + {val_count:,} pairs of {width}x{height} need about "
                            f"{_bytes(need)}; the disk has {_bytes(free)} free",
                            where="-c/--count")


def _bytes(count):
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.1f} {unit}" if unit != "bytes" else f"{count} bytes"
        count /= 1000
    return f"{count:.1f} PB"


def _check_seed(seed):
    """The seed as a Python int; BadInputError unless it is a non-negative integer."""
    if isinstance(seed, float):
        raise BadInputError(f"must be a whole number, got {seed!r}", where="--seed")
    return ranges.check(seed, ranges.SEED, "--seed")


def _phase_sets(train_set, val_set, val_fraction, rng):
    """({'train': ImageSet, 'val': ImageSet}, manifest 'source' dict), checked for pairing."""
    pairs.check_classes(train_set.labels, where=train_set.description)
    if val_set is None:
        sets, source = _held_out_sets(train_set, val_fraction, rng)
    else:
        if val_set.shape != train_set.shape:
            raise BadInputError(f"validation images are {val_set.shape[1]}x{val_set.shape[0]} "
                                f"but training images {train_set.shape[1]}x{train_set.shape[0]}",
                                where=val_set.description)
        sets = {"train": train_set, "val": val_set}
        source = {"train": train_set.description, "validation": "separate set",
                  "val": val_set.description}
    pairs.check_classes(sets["val"].labels, where=sets["val"].description)
    shared = image_sources.count_shared_images(sets["train"].images, sets["val"].images)
    source["validation_images_also_in_training"] = shared
    return sets, source


def _held_out_sets(train_set, val_fraction, rng):
    """Split train_set's images into the two phases; (sets dict, manifest 'source' dict)."""
    train_idx, held = pairs.held_out_split(train_set.labels, val_fraction, rng)
    sets = {"train": train_set.subset(train_idx, train_set.description),
            "val": train_set.subset(held, f"held out of {train_set.description}")}
    held_out = {"fraction": val_fraction, "count": len(held)}
    if train_set.paths is not None:
        held_out["paths"] = [train_set.paths[i] for i in held]
    else:
        held_out["indices"] = held.tolist()
    return sets, {"train": train_set.description, "validation": "held-out split",
                  "held_out": held_out}


def _notes(train_set, val_set, source):
    """What the user should be told about the inputs (list of str, no repeats)."""
    notes = train_set.notes + (val_set.notes if val_set is not None else [])
    shared = source["validation_images_also_in_training"]
    if shared:
        notes.append(f"{shared} validation image(s) have the same pixels as a training image")
    return list(dict.fromkeys(notes))


def _pair_format(shape):
    """The manifest's description of one record."""
    height, width = (int(v) for v in shape)
    return {"channels": 3, "height": height, "width": width, "dtype": "uint8",
            "channel_order": ["first image (blue)", "second image (green)", "zeros (red)"],
            "label": "float 1.0 = same class, 0.0 = different class"}


def _write_phase(folder, phase, image_set, count, positive_fraction, rng, batch_records,
                 progress):
    """Sample one phase's pairs and write its DBs, mean and test PNGs; its manifest entry."""
    if positive_fraction is None:
        left, right = pairs.uniform_pairs(image_set.labels, count, rng)
    else:
        left, right = pairs.balanced_pairs(image_set.labels, count, positive_fraction, rng)
    same = image_set.labels[left] == image_set.labels[right]
    names = {"image_db": f"{phase}_images", "label_db": f"{phase}_labels",
             "mean_file": f"{phase}_mean.binaryproto", "mean_png": f"{phase}_mean.png"}
    key_digits, fingerprint = pair_lmdb.write_pair_dbs(
        os.path.join(folder, names["image_db"]), os.path.join(folder, names["label_db"]),
        image_set.images, left, right, same, batch_records, progress, desc=f"{phase} pairs")
    mean = mean_files.pair_mean(image_set.images, left, right)
    mean_files.write_binaryproto(os.path.join(folder, names["mean_file"]), mean)
    pair_pictures.save_picture(os.path.join(folder, names["mean_png"]),
                               pair_pictures.pair_to_picture(mean))
    tests = _write_test_images(folder, phase, image_set.images, left, right, same)
    positives = int(same.sum())
    return {"pairs": count, "same_class_pairs": positives, "positive_fraction": positives / count,
            "images": len(image_set), "distinct_images_used": int(len(np.union1d(left, right))),
            "key_format": f"%0{key_digits}d", "sha256": fingerprint, **names,
            "test_images": tests}


def _write_test_images(folder, phase, images, left, right, same):
    """PNGs of the first TEST_IMAGE_COUNT same- and different-class pairs; their names."""
    written = {}
    for kind, chosen in (("same_class", np.flatnonzero(same)),
                         ("different_class", np.flatnonzero(~same))):
        written[kind] = []
        for number, k in enumerate(chosen[:TEST_IMAGE_COUNT]):
            name = f"{phase}_test_{kind}_{number}.png"
            picture = pair_pictures.pair_picture(images[left[k]], images[right[k]])
            pair_pictures.save_picture(os.path.join(folder, name), picture)
            written[kind].append(name)
    return written
