"""Build nets in real Caffe in a child process, and report what Caffe made of them.

Caffe answers a network it cannot build (a kernel larger than its input, a
param shared between blobs of different shapes, a mean that does not fit)
with LOG(FATAL), which aborts the whole process. `probe` therefore builds the
nets in `python -m siamese_caffe.netprobe`, and turns a fatal Caffe message
into one BadInputError naming the prototxt; on success it returns, for every
net, its layers with their learnable blob shapes and its output blob shapes.

A solver can also be stepped once there (its train net forward, backward and update,
each test net forward), so what Caffe checks only while training — an unknown
regularization type, a solver's own parameter checks, a shape that fails at the
first forward pass — fails in the child, never in the training process. The
error says whether Caffe's check was in its solver code (`about_solver`) and, when
it failed while a layer was being set up, which layer and its line in the prototxt.
"""

import json
import os
import re
import subprocess
import sys

from .. import PROJECT_ROOT
from ..errors import BadInputError

FATAL_LINE = re.compile(r"^F\d{4}(?:\d{4})? [\d:.]+\s+\d+ ([^\]:]*)(?::\d+)?\] (.*)$")
ERROR_LINE = re.compile(r"^[FE]\d{4}(?:\d{4})? [\d:.]+\s+\d+ ([^\]:]*)(?::\d+)?\] (.*)$")
LAYER_LINE = re.compile(r"^I\S* [\d:.]+\s+\d+ [^\]]*\] (?:Creating [Ll]ayer|Setting up) (\S+)$")
SOLVER_SOURCES = re.compile(r"(^|_)solver")     # sgd_solver.cpp, solver.cpp, solver_factory.hpp
STARTED = "PROBING "
STEPPING = "STEPPING"          # on the child's stderr: the nets are built, training starts


class CaffeRejectedError(BadInputError):
    """Caffe aborted building a net; `reason` is its fatal message, `where` the prototxt.

    about_solver: Caffe's failed check is in its solver code (the solver's settings, not
    the network). layer: the layer being set up when it failed, or None."""

    def __init__(self, reason, where=None, about_solver=False, layer=None):
        self.reason = reason
        self.about_solver = about_solver
        self.layer = layer
        what = "Caffe refuses this solver" if about_solver else "Caffe cannot build this network"
        at = f"layer '{layer}': " if layer and not about_solver else ""
        super().__init__(f"{what}: {at}{reason}", where=where)


def probe(items, timeout=600):
    """Build each item in a child Caffe (CPU mode); their descriptions.

    items: list of ("net", prototxt path, phase "train"|"test", [stages]), the same
    with a fifth element, a .caffemodel to load into the net (so weights that do not
    fit, or a truncated file, are caught too), or ("solver", solver prototxt path), the
    same with a third element {"step": True} to run one training iteration and one test
    pass, and "restore": a .solverstate to restore first.
    A net's description is {"layers": [{"name", "type", "blobs": [[dims]]}], "blobs":
    {blob name: [dims]}, "outputs": {output blob name: [dims]}}; a solver's is
    {"train": <its train net>, "test": [<its test nets>]}. Raises
    CaffeRejectedError (a BadInputError) naming the item's path when Caffe aborts.
    """
    request = [[item[0], os.path.abspath(item[1]), *item[2:]] for item in items]
    # The child runs in the caller's folder (Data sources and mean files may be relative
    # to it, as for Caffe's own tool) and imports this same package through PYTHONPATH.
    package_parent = PROJECT_ROOT
    env = dict(os.environ, GLOG_minloglevel="0", GLOG_logtostderr="1",
               PYTHONPATH=os.pathsep.join(filter(None, [package_parent,
                                                        os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", __name__, json.dumps(request)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode == 0:
        return json.loads(result.stdout.splitlines()[-1])
    started = [line[len(STARTED):] for line in result.stdout.splitlines()
               if line.startswith(STARTED)]
    where = started[-1] if started else None
    source, reason, layer = fatal_details(result.stderr)
    if layer and where and not SOLVER_SOURCES.search(source or ""):
        line = prototxt_line_of_layer(where, layer)
        where = f"{where}:{line}" if line else where
    raise CaffeRejectedError(reason, where=where,
                             about_solver=bool(SOLVER_SOURCES.search(source or "")),
                             layer=layer)


def fatal_message(stderr):
    """Caffe's fatal log message in a child's stderr (its last line when there is none)."""
    return fatal_details(stderr)[1]


def fatal_details(stderr):
    """(source file of Caffe's failed check or None, its message, the layer being set up
    when it failed or None) from a child's stderr."""
    lines = stderr.strip().splitlines()
    layer = None
    for line in lines:
        found = LAYER_LINE.match(line)
        if found:
            layer = found.group(1)
            continue
        match = FATAL_LINE.match(line)
        if match:
            reason = readable(match.group(2))
            inputs = layer and layer_inputs(lines, layer)
            return match.group(1), f"{reason}{f'; its inputs: {inputs}' if inputs else ''}", layer
        if line.startswith(STEPPING):
            layer = None                 # set-up is over: a later failure is not in it
    errors = [line for line in lines if not line[:1] in "IWE" or not line[1:5].isdigit()]
    last = (errors or lines or ["the Caffe process died without a message"])[-1]
    return None, last, None


WIRING_LINE = re.compile(r"^I\S* [\d:.]+\s+\d+ net\.cpp:\d+\] (\S+) (<-|->) (\S+)$")
TOP_SHAPE_LINE = re.compile(r"^I\S* [\d:.]+\s+\d+ net\.cpp:\d+\] Top shape: ([\d ]+) \(")


def layer_inputs(lines, layer):
    """'pool1_left 32x20x12x12, ...': the bottoms of `layer` and their shapes, from the
    wiring ("L <- blob", "L -> blob") and "Top shape" lines of Caffe's set-up log; None
    when the log does not say."""
    shapes, bottoms, tops = {}, [], []
    for line in lines:
        wired = WIRING_LINE.match(line)
        if wired:
            name, arrow, blob = wired.groups()
            if arrow == "->":
                tops.append(blob)
            elif name == layer:
                bottoms.append(blob)
            continue
        shape = TOP_SHAPE_LINE.match(line)
        if shape and tops:
            shapes[tops.pop(0)] = "x".join(shape.group(1).split())
        elif "Setting up" in line or "Creating Layer" in line:
            tops = [] if "Creating Layer" in line else tops
    known = [f"{blob} {shapes[blob]}" for blob in bottoms if blob in shapes]
    return ", ".join(known) or None


EXPLAINED = {   # Caffe's checks without a message of their own, said in words
    "data_": "a blob of no elements: the layer's output does not fit its input "
             "(a kernel, crop or slice larger than it?)",
    "shape[i] >= 0": "a blob of negative size: the layer's output does not fit its input",
}


CHECK = re.compile(r"^Check failed: (.+?) \(([^()]* vs\. [^()]*)\)\s*(.*)$")


def readable(message):
    """Caffe's fatal message with its explanation first: "Check failed: a == b (0 vs. 1)
    Why." becomes "Why. (Caffe's check a == b failed: 0 vs. 1)"; unchanged otherwise."""
    text = message.strip()
    bare = re.match(r"^Check failed: (.+?)\s*(?:\(([^()]* vs\. [^()]*)\))?$", text)
    if bare and not CHECK.match(text) or bare and not CHECK.match(text).group(3):
        check, values = bare.group(1), f": {bare.group(2)}" if bare.group(2) else ""
        if check in EXPLAINED:
            return f"{EXPLAINED[check]} (Caffe's check {check} failed{values})"
        said = re.match(r"^(\S+ [=!<>]+ \S+) ([A-Z].*)$", check)
        if said:
            return f"{said.group(2).strip()} (Caffe's check {said.group(1)} failed{values})"
        return f"Caffe's check {check} failed{values}"
    match = CHECK.match(text)
    if not match or not match.group(3):
        return text
    check, values, why = match.groups()
    return f"{why.strip()} (Caffe's check {check} failed: {values})"


def prototxt_line_of_layer(path, layer):
    """The line (from 1) of `name: "<layer>"` in the prototxt at `path`, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return line_of_layer(text, layer)


def line_of_layer(text, layer):
    """The line (from 1) of the layer named `layer` in prototxt `text`, or None."""
    pattern = re.compile(r"""\bname\s*:\s*["']""" + re.escape(layer) + r"""["']""")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line.split("#", 1)[0]):
            return number
    return None


def describe(net):
    """{"layers": [...], "blobs": {...}, "outputs": {...}} of a built caffe.Net (see `probe`)."""
    layers = [{"name": name, "type": layer.type, "blobs": [list(b.data.shape) for b in layer.blobs]}
              for name, layer in zip(net._layer_names, net.layers)]
    blobs = {name: list(blob.data.shape) for name, blob in net.blobs.items()}
    outputs = {name: blobs[name] for name in net.outputs}
    return {"layers": layers, "blobs": blobs, "outputs": outputs}


def _main(request):
    """Child side: build each net in turn, print one JSON line with their descriptions."""
    from . import caffe_env

    caffe = caffe_env.import_caffe()
    caffe.set_mode_cpu()
    phases = {"train": caffe.TRAIN, "test": caffe.TEST}
    described = []
    for kind, path, *rest in request:
        print(STARTED + path, flush=True)
        if kind == "solver":
            options = rest[0] if rest else {}
            solver = caffe.get_solver(path)
            described.append({"train": describe(solver.net),
                              "test": [describe(net) for net in solver.test_nets]})
            if options.get("restore"):
                solver.restore(options["restore"])
            if options.get("step"):
                print(STEPPING, file=sys.stderr, flush=True)
                solver.step(1)
                for net in solver.test_nets:
                    net.share_with(solver.net)
                    net.forward()
            del solver
        else:
            phase, stages, *weights = rest
            extra = {"weights": weights[0]} if weights else {}
            described.append(describe(caffe.Net(path, phases[phase], stages=stages, **extra)))
    print(json.dumps(described), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(json.loads(sys.argv[1])))
