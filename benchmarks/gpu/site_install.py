"""Make this checkout importable from a ``--target`` folder, as an install would, without building anything.

    python benchmarks/gpu/site_install.py SITE

Links ``SITE/flashtts`` -> ``flashtts/`` and ``SITE/flashtts_engines`` -> ``engines/`` and writes a
``flashtts-VERSION.dist-info`` with ``pyproject.toml``'s entry points (the engines are found by
them). ``pip install .`` would need the image's setuptools to build this project (it needs >= 77);
this needs the standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def install(site: Path) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    site.mkdir(parents=True, exist_ok=True)
    for name, src in (("flashtts", ROOT / "flashtts"), ("flashtts_engines", ROOT / "engines")):
        link = site / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src)
    info = site / f"flashtts-{project['version']}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: flashtts\nVersion: {project['version']}\n")
    groups = dict(project.get("entry-points", {}))
    groups["console_scripts"] = project.get("scripts", {})
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    (info / "top_level.txt").write_text("flashtts\nflashtts_engines\n")
    return info


if __name__ == "__main__":
    print(install(Path(sys.argv[1])))
