"""Where the shipped browser UI and default roles live (source checkout or installed data files)."""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _find(name: str) -> Path:
    for base in (_SOURCE_ROOT, Path(sys.prefix) / "share" / "flashtts"):
        if (base / name).is_dir():
            return base / name
    return _SOURCE_ROOT / name


def web_dir() -> Path:
    return _find("web")


def default_roles_dir() -> Path:
    return _find("roles")
