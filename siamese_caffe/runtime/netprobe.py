"""Build nets in real Caffe in a child process, and report what Caffe made of them.

Caffe answers a network it cannot build (a kernel larger than its input, a
param shared between blobs of different shapes, a mean that does not fit)
with LOG(FATAL), which aborts the whole process. `probe` therefore builds the
nets in `python -m siamese_caffe.netprobe`, and turns a fatal Caffe message
into one BadInputError naming the prototxt; on success it returns, for every
net, its layers with their learnable blob shapes and its output blob shapes.
"""

import json
import os
import re
import subprocess
import sys

from .. import PROJECT_ROOT
from ..errors import BadInputError

FATAL_LINE = re.compile(r"^F\d{4}(?:\d{4})? [\d:.]+\s+\d+ [^\]]*\] (.*)$")
STARTED = "PROBING "


class CaffeRejectedError(BadInputError):
    """Caffe aborted building a net; `reason` is its fatal message, `where` the prototxt."""

    def __init__(self, reason, where=None):
        self.reason = reason
        super().__init__(f"Caffe cannot build this network: {reason}", where=where)


def probe(items, timeout=600):
    """Build each item in a child Caffe (CPU mode); their descriptions.

    items: list of ("net", prototxt path, phase "train"|"test", [stages]), the same
    with a fifth element, a .caffemodel to load into the net (so weights that do not
    fit, or a truncated file, are caught too), or ("solver", solver prototxt path).
    A net's description is {"layers": [{"name", "type", "blobs": [[dims]]}], "blobs":
    {blob name: [dims]}, "outputs": {output blob name: [dims]}}; a solver's is
    {"train": <its train net>, "test": [<its test nets>]}. Raises
    CaffeRejectedError (a BadInputError) naming the item's path when Caffe aborts.
    """
    request = [[item[0], os.path.abspath(item[1]), *item[2:]] for item in items]
    # The child runs in the caller's folder (Data sources and mean files may be relative
    # to it, as for Caffe's own tool) and imports this same package through PYTHONPATH.
    package_parent = PROJECT_ROOT
    env = dict(os.environ, GLOG_minloglevel="2",
               PYTHONPATH=os.pathsep.join(filter(None, [package_parent,
                                                        os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", __name__, json.dumps(request)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode == 0:
        return json.loads(result.stdout.splitlines()[-1])
    started = [line[len(STARTED):] for line in result.stdout.splitlines()
               if line.startswith(STARTED)]
    where = started[-1] if started else None
    raise CaffeRejectedError(fatal_message(result.stderr), where=where)


def fatal_message(stderr):
    """Caffe's fatal log message in a child's stderr (its last line when there is none)."""
    lines = stderr.strip().splitlines()
    for line in lines:
        match = FATAL_LINE.match(line)
        if match:
            return match.group(1)
    return lines[-1] if lines else "the Caffe process died without a message"


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
            solver = caffe.get_solver(path)
            described.append({"train": describe(solver.net),
                              "test": [describe(net) for net in solver.test_nets]})
            del solver
        else:
            phase, stages, *weights = rest
            extra = {"weights": weights[0]} if weights else {}
            described.append(describe(caffe.Net(path, phases[phase], stages=stages, **extra)))
    print(json.dumps(described), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(json.loads(sys.argv[1])))
