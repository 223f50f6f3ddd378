"""The package map holds (docs/design/layers.md): no import circles in ``flashtts/``, every import points down
the layers (or stays in its package), and nothing below the edge reaches a web framework, directly or through
another flashtts module. The source is parsed (nothing imported); imports inside functions and
``TYPE_CHECKING`` blocks count: a circle through them is still a circle for a reader."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = ROOT / "flashtts"

LAYERS: dict[str, int] = {
    # what every layer may use: audio codecs, client errors, counters, process memory
    "flashtts": 0, "flashtts.audio": 0, "flashtts.errors": 0, "flashtts.metrics": 0, "flashtts.memory": 0,
    "flashtts.engine": 1,  # the SDK engines import
    "flashtts.text": 2,  # text to speakable segments (language names as engines give them)
    "flashtts.ssml": 3,  # SSML read into text, pauses and timings
    "flashtts.config": 4, "flashtts.voices": 4,  # every option once; the role store and voice names
    "flashtts.serving": 5,  # the request lifecycle, planning, admission, live sessions: no web framework
    "flashtts.wyoming": 6,  # the Wyoming edge
    "flashtts.http": 7,  # the HTTP edge; its app starts the Wyoming listener beside it
    "flashtts.deploy": 8,  # Ray Serve replicas of the HTTP app
    "flashtts.cli": 9, "flashtts.__main__": 10,  # the command
}
"""Each top-level module or package of flashtts and its layer."""
BELOW_THE_EDGE = [name for name, layer in LAYERS.items() if layer < LAYERS["flashtts.wyoming"]]
WEB = ("fastapi", "starlette", "uvicorn", "wyoming", "websockets")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> Iterator[str]:
    """Every module name an ``import``/``from ... import`` of the file names (relative ones resolved);
    ``from package import name`` gives ``package.name`` when that is a module, else ``package``."""
    own = module_name(path)
    base = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[:len(base) - node.level + 1]
                source = ".".join(parent + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source


def owner(name: str) -> str | None:
    """The flashtts module a dotted name lives in (the longest module prefix), or None outside flashtts."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules():
            return ".".join(parts)
        parts.pop()
    return None


@cache
def graph() -> dict[str, frozenset[str]]:
    edges = {}
    for name, path in modules().items():
        targets = {owner(n) for n in imported(path)}
        edges[name] = frozenset(t for t in targets if t is not None and t != name)
    return edges


def top(name: str) -> str:
    """The entry of :data:`LAYERS` a module belongs to."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise AssertionError(f"{name} is in no layer: add its package to LAYERS (and docs/design/layers.md)")


def circles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checks_see_a_circle_and_an_upward_arrow():
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": frozenset({"b"}), "b": frozenset()}) == []
    assert owner("flashtts.serving.planning.Planning") == "flashtts.serving.planning"
    assert "flashtts.serving.plans" in graph()["flashtts.serving.planning"]
    assert top("flashtts.http.apis.openai.routes") == "flashtts.http"


def test_every_module_is_in_a_layer():
    for name in modules():
        top(name)


def test_no_import_circles():
    assert circles(dict(graph())) == []


def test_imports_point_down_or_stay_in_their_package():
    wrong = []
    for source, targets in graph().items():
        for target in targets:
            a, b = top(source), top(target)
            if a != b and LAYERS[b] >= LAYERS[a]:
                wrong.append(f"{source} (layer {LAYERS[a]}) imports {target} (layer {LAYERS[b]})")
    assert not wrong, "\n".join(sorted(wrong))


def web_imports(path: Path) -> set[str]:
    return {n for n in imported(path) if n.split(".")[0] in WEB}


@pytest.mark.parametrize("package", BELOW_THE_EDGE)
def test_no_web_framework_below_the_edge(package):
    """Not imported by the package's modules, nor by any flashtts module they reach."""
    reached: set[str] = set()
    todo = [m for m in modules() if top(m) == package]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph()[name])
    found = {name: sorted(web_imports(modules()[name])) for name in sorted(reached) if web_imports(modules()[name])}
    assert not found, f"{package} reaches a web framework: {found}"


def test_every_error_kind_is_answered_at_every_edge():
    """HTTP (status and OpenAI type), the WebSocket (close code) and Wyoming (error event code) each map
    every kind the serving layer raises, and no kind that does not exist."""
    import flashtts.errors as errors
    from flashtts.http.apis.stream.routes import CLOSE_CODES
    from flashtts.http.errors import HTTP_ANSWERS
    from flashtts.wyoming.server import ERROR_CODES

    kinds = {cls.kind for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.APIError)}
    assert set(errors.KINDS) == kinds and len(errors.KINDS) == len(kinds)
    for edge in (HTTP_ANSWERS, CLOSE_CODES, ERROR_CODES):
        assert set(edge) == kinds, set(edge) ^ kinds
    assert errors.SERVER_FAULTS <= kinds
    assert all(HTTP_ANSWERS[k][0] >= 500 for k in errors.SERVER_FAULTS)
    assert all(HTTP_ANSWERS[k][0] < 500 for k in kinds - errors.SERVER_FAULTS)

