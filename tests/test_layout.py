"""The package's shape, read from its source (ast): no import circle anywhere in
siamese_caffe/, short functions in serve/, and no view called through Flask's
`view_functions` (a page shares the answer builder instead)."""

import ast
import os

from project_paths import ROOT

PACKAGE = os.path.join(ROOT, "siamese_caffe")
LONGEST_SERVE_FUNCTION = 60   # lines, from `def` to the function's last line
STAGES = ("runtime", "data", "net", "train", "infer", "evaluate", "serve")   # data flow order


def _modules():
    """{dotted module name: path} of every .py file of the package."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


def _imported(module, path, modules):
    """The package modules `module` imports, at top level or inside functions."""
    is_package = path.endswith("__init__.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules
                          else base)
    return {name for name in names if name in modules and name != module}


def import_graph():
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def find_circle(graph):
    """One import circle as [a, b, ..., a], or None."""
    done, path = set(), []

    def visit(name):
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        path.append(name)
        for other in sorted(graph[name]):
            circle = visit(other)
            if circle:
                return circle
        path.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        circle = visit(name)
        if circle:
            return circle
    return None


def test_the_scan_sees_a_circle_when_there_is_one():
    graph = import_graph()
    assert "siamese_caffe.serve.server" in graph["siamese_caffe.commands.serve"]
    assert "siamese_caffe.serve.answers" in graph["siamese_caffe.serve.api"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_circle_in_the_package():
    circle = find_circle(import_graph())
    assert circle is None, " -> ".join(circle)


def test_a_stage_imports_only_from_the_stages_before_it():
    wrong = []
    for module, imported in import_graph().items():
        stage = module.split(".")[1] if module.count(".") else None
        if stage not in STAGES:
            continue          # cli, commands, demo sit on top and may import any stage
        for other in imported:
            parts = other.split(".")
            if len(parts) == 1 or parts[1] == "errors":
                continue      # the package's version and its errors serve every stage
            if parts[1] not in STAGES or STAGES.index(parts[1]) > STAGES.index(stage):
                wrong.append(f"{module} imports {other}")
    assert not wrong, wrong


def _serve_files():
    folder = os.path.join(PACKAGE, "serve")
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if name.endswith(".py")]


def test_no_function_in_serve_is_longer_than_60_lines():
    long_ones = []
    for path in _serve_files():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_SERVE_FUNCTION:
                    long_ones.append(f"{os.path.basename(path)}:{node.lineno} {node.name} "
                                     f"({lines} lines)")
    assert not long_ones, long_ones


def test_routes_live_at_module_level_and_no_view_calls_another():
    for path in _serve_files():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "view_functions", f"{path}:{node.lineno}"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if inner is not node and isinstance(inner, ast.FunctionDef):
                        routed = [d for d in inner.decorator_list if isinstance(d, ast.Call)
                                  and isinstance(d.func, ast.Attribute)
                                  and d.func.attr in ("get", "post", "put", "delete", "route")]
                        assert not routed, f"{path}:{inner.lineno} {inner.name} is a route " \
                                           "inside a function"


def test_the_serve_package_docstring_lists_every_route(tmp_path):
    import siamese_caffe.serve as serve
    from siamese_caffe.serve import server

    table = serve.__doc__
    app = server.create_app(str(tmp_path / "jobs"))
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        blueprint, view = rule.endpoint.split(".")
        assert f"{blueprint}.{view}" in table or f", {view}" in table, rule.endpoint
        static_start = rule.rule.split("<")[0].rstrip("/") or "/"
        assert static_start in table, rule.rule
