"""Which server-side paths a request may name: only files inside the `--data-root` folders.

`serve` reads images named by a request (`image_path`, the lines of an uploaded
`image_list`, `image_folder`). `DataRoots.resolve` turns such a path into the real
path of a file inside one of the roots, or refuses it with ForbiddenPathError
(HTTP 403):

- no roots given: every server-side path is refused (uploads still work);
- any `..` component is refused outright, wherever it would lead;
- an absolute path must lie inside a root;
- a relative path is taken inside `base` (a resolved image_folder) or else inside
  each root in turn (the first where it exists);
- symbolic links are followed first (os.path.realpath) and the *target* must lie
  inside a root, so a link pointing out of a root is refused.

The check is made on names only, never on whether a file outside the roots
exists, so a refusal tells nothing about the rest of the file system. A path that
passes may still not exist; reading it then fails with "image not found".
"""

import os

from ..errors import BadInputError, SiameseCaffeError


class ForbiddenPathError(SiameseCaffeError):
    """A request named a server path outside the data roots (HTTP 403)."""

    def __init__(self, path, reason):
        self.path = path
        super().__init__(f"{path!r}: {reason}")


class DataRoots:
    """The folders a server reads from. roots: folder paths (BadInputError unless each
    is an existing folder); kept as their real, absolute paths."""

    def __init__(self, roots):
        self.roots = []
        for root in roots:
            if not os.path.isdir(root):
                raise BadInputError("not a folder", where=root)
            real = os.path.realpath(root)
            if real not in self.roots:
                self.roots.append(real)

    def __bool__(self):
        return bool(self.roots)

    def resolve(self, path, base=None):
        """The real path (str) of `path` inside a root; ForbiddenPathError otherwise.

        base: a real folder inside a root (from `resolve_folder`) for relative paths.
        """
        if not self.roots:
            raise ForbiddenPathError(path, "server paths are not read: the server was "
                                           "started without --data-root (upload the file)")
        if not isinstance(path, str) or not path or "\0" in path:
            raise ForbiddenPathError(path, "not a usable path")
        if ".." in path.replace("\\", "/").split("/"):
            raise ForbiddenPathError(path, "'..' is not allowed in paths")
        if os.path.isabs(path):
            candidates = [path]
        elif base is not None:
            candidates = [os.path.join(base, path)]
        else:
            candidates = [os.path.join(root, path) for root in self.roots]
        inside = [real for real in map(os.path.realpath, candidates) if self.contains(real)]
        if not inside:
            raise ForbiddenPathError(path, "outside the server's data roots")
        return next((real for real in inside if os.path.lexists(real)), inside[0])

    def resolve_folder(self, path):
        """`resolve` for a folder that must exist (BadInputError when it does not)."""
        real = self.resolve(path)
        if not os.path.isdir(real):
            raise BadInputError("does not exist or is not a folder", where=path)
        return real

    def contains(self, real):
        """Whether the real path `real` is a root or lies inside one."""
        return any(os.path.commonpath([real, root]) == root for root in self.roots)
