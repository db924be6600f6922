"""Which server paths `serve` may read: only inside the data roots, links followed first."""

import os

import pytest

from siamese_caffe.errors import BadInputError
from siamese_caffe.serve.pathguard import DataRoots, ForbiddenPathError


@pytest.fixture
def tree(tmp_path):
    """root/ (a/x.png, link-in.png -> a/x.png, link-out.png -> ../outside/y.png, dir-out ->
    ../outside), second/ (z.png, a/x.png), outside/ (y.png)."""
    root, second, outside = tmp_path / "root", tmp_path / "second", tmp_path / "outside"
    for folder in (root / "a", second / "a", outside):
        folder.mkdir(parents=True)
    for path in (root / "a" / "x.png", second / "z.png", second / "a" / "x.png",
                 outside / "y.png"):
        path.write_bytes(b"image")
    os.symlink(root / "a" / "x.png", root / "link-in.png")
    os.symlink(outside / "y.png", root / "link-out.png")
    os.symlink(outside, root / "dir-out")
    return tmp_path


def test_relative_and_absolute_paths_inside_a_root_resolve(tree):
    roots = DataRoots([tree / "root"])
    real = os.path.realpath(tree / "root" / "a" / "x.png")
    assert roots.resolve("a/x.png") == real
    assert roots.resolve(str(tree / "root" / "a" / "x.png")) == real
    assert roots.resolve("link-in.png") == real            # a link that stays inside
    assert roots.resolve("x.png", base=roots.resolve_folder("a")) == real


def test_a_relative_path_is_looked_for_in_each_root_in_turn(tree):
    roots = DataRoots([tree / "root", tree / "second"])
    assert roots.resolve("z.png") == os.path.realpath(tree / "second" / "z.png")
    assert roots.resolve("a/x.png") == os.path.realpath(tree / "root" / "a" / "x.png")
    # missing everywhere: the first root's name, so reading it says "image not found"
    assert roots.resolve("none.png") == os.path.realpath(tree / "root" / "none.png")


@pytest.mark.parametrize("path, reason", [
    ("../outside/y.png", "'..'"),
    ("a/../a/x.png", "'..'"),                 # stays inside, refused all the same
    ("a\\..\\a\\x.png", "'..'"),
    ("OUTSIDE/y.png", "outside the server's data roots"),
    ("link-out.png", "outside the server's data roots"),
    ("dir-out/y.png", "outside the server's data roots"),
    ("/etc/passwd", "outside the server's data roots"),
    ("/nonexistent/elsewhere.png", "outside the server's data roots"),
    ("", "not a usable path"),
    ("a/x.png\0.txt", "not a usable path"),
])
def test_paths_leading_out_are_refused(tree, path, reason):
    roots = DataRoots([tree / "root"])
    path = path.replace("OUTSIDE", str(tree / "outside"))
    with pytest.raises(ForbiddenPathError, match=reason):
        roots.resolve(path)


def test_image_folder_must_be_inside_and_exist(tree):
    roots = DataRoots([tree / "root"])
    with pytest.raises(ForbiddenPathError):
        roots.resolve_folder("dir-out")
    with pytest.raises(ForbiddenPathError):
        roots.resolve_folder(str(tree / "outside"))
    with pytest.raises(BadInputError, match="does not exist"):
        roots.resolve_folder("nope")
    base = roots.resolve_folder("a")
    with pytest.raises(ForbiddenPathError):
        roots.resolve("../../outside/y.png", base=base)


def test_without_roots_nothing_is_read(tree):
    roots = DataRoots([])
    assert not roots
    with pytest.raises(ForbiddenPathError, match="without --data-root"):
        roots.resolve(str(tree / "root" / "a" / "x.png"))


def test_a_root_must_be_an_existing_folder(tree):
    with pytest.raises(BadInputError, match="not a folder"):
        DataRoots([tree / "missing"])
    with pytest.raises(BadInputError, match="not a folder"):
        DataRoots([tree / "outside" / "y.png"])
