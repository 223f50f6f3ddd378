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
