"""DIGITS image lists: one `path label` per line, images decoded to grayscale.

A line is a path (it may contain spaces) followed by whitespace and an integer
class label, as DIGITS writes train.txt / val.txt. Blank lines are skipped.
Relative paths are resolved against `image_folder`, or else the list's folder.

Images are decoded by image_io (OpenCV). Colour images are converted to grayscale
(Pillow's ITU-R 601-2 luma, the conversion DIGITS applies for a grayscale dataset) and
the conversion is reported in the returned notes; 16-bit and float images are refused.
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from ..runtime import input_files, ranges
from ..runtime.progress import bar as progress_bar
from . import image_io

UNLABELLED = -1              # the label of an image whose list line has none

CHUNK_IMAGES = 1024          # images decoded per task
PARALLEL_MIN_IMAGES = 4096   # smaller lists decode faster in this process than with a pool


@dataclass(frozen=True)
class ListLine:
    """One non-blank line of an image list: its number (from 1), the path as written and
    the label (None where the line has none)."""

    number: int
    written: str
    label: object


def read_lines(list_path):
    """The lines of a list file (list of str; a UTF-8 BOM dropped, \r\n line ends too);
    BadInputError when it is not a regular UTF-8 file of at most input_files.LIST_LIMIT."""
    return input_files.read_lines(list_path, input_files.LIST_LIMIT, what="image list")


def list_lines(lines, where, labels_required=False):
    """[ListLine] of `lines` (list of str), blank lines skipped. A last whitespace-separated
    integer is the label. With labels_required, a line without one is a BadInputError
    naming `where:line`, as is a negative label. A list with no lines is refused."""
    found = []
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.lstrip("\ufeff")      # a BOM left by a text that was not decoded here
        if line.strip():
            written, label = _split(line.strip())
            if labels_required or label is not None:
                _check_label(line.strip(), label, f"{where}:{number}",
                             negative_ok=not labels_required)
            found.append(ListLine(number, written, label))
    if not found:
        expected = "`path label`" if labels_required else "one image path"
        raise BadInputError(f"the image list is empty (expected lines of {expected})",
                            where=where)
    return found


def resolve(written, base):
    """A listed path joined to the folder `base` unless it is absolute."""
    return written if os.path.isabs(written) else os.path.join(base, written)


def list_folder(list_path, image_folder=None):
    """The folder relative paths of a list are resolved against: `image_folder`, else the
    list's own folder."""
    return image_folder if image_folder else os.path.dirname(os.path.abspath(list_path))


def parse_list(list_path, image_folder=None):
    """Entries of a DIGITS list file as (paths list[str], labels (N,) int64, line numbers list[int]).

    Raises BadInputError naming `list_path:line` for a line without a label or with a
    non-integer label, and for a list with no entries.
    """
    entries = list_lines(read_lines(list_path), list_path, labels_required=True)
    base = list_folder(list_path, image_folder)
    return ([resolve(e.written, base) for e in entries],
            np.asarray([e.label for e in entries], np.int64), [e.number for e in entries])


def _split(line):
    """(path, label or None) of a stripped line: a last whitespace-separated integer is the label."""
    parts = line.rsplit(None, 1)
    if len(parts) == 2:
        try:
            return parts[0], int(parts[1])
        except ValueError:
            pass
    return line, None


def _check_label(line, label, where, negative_ok=False):
    """BadInputError unless `label` (from `line`) is a class label: an integer ≥ 0 (any
    integer when negative_ok) and at most ranges.LABEL's maximum."""
    if label is None:
        parts = line.rsplit(None, 1)
        if len(parts) < 2:
            raise BadInputError(f"missing label (expected `path label`, got {line!r})",
                                where=where)
        raise BadInputError(f"label {parts[1]!r} is not an integer", where=where)
    if label < 0 and not negative_ok:
        raise BadInputError(f"label {label} is negative (class labels are 0, 1, 2, ...)",
                            where=where)
    if abs(label) > ranges.LABEL.maximum:
        raise BadInputError(f"label {parts_label(line)} is beyond the largest class label "
                            f"({ranges.LABEL.maximum:,})", where=where)


def parts_label(line):
    """The label as written at the end of `line`, shortened for a message."""
    written = line.rsplit(None, 1)[-1]
    return written if len(written) <= 24 else written[:20] + "..."


def load_gray(path, where):
    """One image file as a (H, W) uint8 array, and whether it was converted from colour.

    Raises BadInputError naming `where` (the list line) and the file when it is missing,
    unreadable, corrupt or of an unsupported bit depth.
    """
    return image_io.read_gray(path, where=f"{where}: {path}")


def load_images(paths, wheres, progress=False, workers=None):
    """Decode every path into one (N, H, W) uint8 array, plus notes for the user.

    All images must have the size of the first one; BadInputError names the line of
    the first that does not. Lists of PARALLEL_MIN_IMAGES or more are decoded by
    `workers` processes (default: one per CPU), in chunks, errors reported in list
    order. progress: show a tqdm bar on stderr.
    """
    first, _ = load_gray(paths[0], wheres[0])
    ranges.check_memory(len(paths) * first.size,
                        f"{len(paths):,} images of {first.shape[1]}x{first.shape[0]}",
                        wheres[0].rsplit(":", 1)[0])
    images = np.empty((len(paths),) + first.shape, np.uint8)
    starts = range(0, len(paths), CHUNK_IMAGES)
    chunks = [(paths[i:i + CHUNK_IMAGES], wheres[i:i + CHUNK_IMAGES], first.shape, paths[0])
              for i in starts]
    workers = workers or os.cpu_count() or 1
    converted = []
    with _chunk_mapper(workers if len(paths) >= PARALLEL_MIN_IMAGES else 1) as mapper, \
            progress_bar(total=len(paths), desc="decoding images", unit="image",
                         disable=not progress) as bar:
        for start, (block, colour) in zip(starts, mapper(_decode_chunk, chunks)):
            images[start:start + len(block)] = block
            converted += colour
            bar.update(len(block))
    notes = []
    if converted:
        notes.append(f"converted {len(converted)} colour image(s) to grayscale "
                     f"(first: {converted[0]})")
    return images, notes


@contextlib.contextmanager
def _chunk_mapper(workers):
    """A map function: the builtin for one worker, else a forked process pool's map."""
    if workers <= 1:
        yield map
        return
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool.map


def _decode_chunk(job):
    """Decode one chunk: ((K, H, W) uint8, [paths converted from colour]).

    job: (paths, wheres, expected (H, W), first path of the list).
    """
    paths, wheres, shape, first_path = job
    block = np.empty((len(paths),) + tuple(shape), np.uint8)
    converted = []
    for i, (path, where) in enumerate(zip(paths, wheres)):
        image, was_colour = load_gray(path, where)
        if image.shape != tuple(shape):
            raise BadInputError(
                f"image {path} is {image.shape[1]}x{image.shape[0]} but the first image "
                f"({first_path}) is {shape[1]}x{shape[0]}; all images must have one size",
                where=where)
        block[i] = image
        if was_colour:
            converted.append(path)
    return block, converted
