"""Reading and writing Caffe's text protobuf files (prototxt).

`read_net` / `read_solver` parse a file into `caffe_pb2.NetParameter` /
`caffe_pb2.SolverParameter` with protobuf's own text parser; a syntax error
becomes one `BadInputError` naming ``file:line``. `write_text` writes a message
back as text (optionally under a comment header) through a temporary file, so a
reader never sees half a file. `blob_shape` reads a BlobProto's dimensions, whichever
of the two ways Caffe wrote them.
"""

from google.protobuf import text_format

from ..errors import BadInputError
from . import atomic_files, caffe_env


def caffe_pb2():
    """Caffe's generated protobuf module (imports pycaffe on first use)."""
    caffe_env.import_caffe()
    from caffe.proto import caffe_pb2 as module
    return module


def parse_text(text, message, where):
    """Merge prototxt `text` into `message` and return it.

    `where` names the source for error messages (a path, or "<string>").
    Raises BadInputError("syntax error: ...", where="file:line").
    """
    try:
        text_format.Merge(text, message)
    except text_format.ParseError as err:
        line = err.GetLine()
        detail = str(err).split(" : ", 1)[-1]
        raise BadInputError(f"syntax error: {detail}",
                            where=f"{where}:{line}" if line else where) from None
    return message


def read_text(path):
    """The text of a prototxt file (a regular UTF-8 file, see input_files); a missing,
    special or unreadable file is a BadInputError."""
    from . import input_files

    return input_files.read_text(path, input_files.TEXT_LIMIT, what="prototxt")


def read_net(path):
    """Parse a network prototxt file into a NetParameter (BadInputError on bad syntax)."""
    return parse_text(read_text(path), caffe_pb2().NetParameter(), path)


def read_solver(path):
    """Parse a solver prototxt file into a SolverParameter (BadInputError on bad syntax)."""
    return parse_text(read_text(path), caffe_pb2().SolverParameter(), path)


def to_text(message):
    """A protobuf message as prototxt text."""
    return text_format.MessageToString(message)


def write_text(path, message, header=None):
    """Write `message` as prototxt to `path` atomically, under `header` comment lines."""
    body = to_text(message)
    if header:
        body = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + body
    atomic_files.write_text(path, body)


def blob_shape(blob):
    """The dimensions of a caffe_pb2.BlobProto as a tuple of int: its `shape`, else the
    legacy (num, channels, height, width)."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    return tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
