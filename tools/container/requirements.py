"""Print the requirements of flashtts and the given extras, one a line, read from pyproject.toml.

The image build installs these in a layer of their own before it copies the source, so that a change
to the code rebuilds only the small layer that installs flashtts itself (``pip install --no-deps``).
Usage: ``python3 requirements.py pyproject.toml [EXTRA[,EXTRA...]]``.
"""

from __future__ import annotations

import re
import sys

import tomllib


def requirements(project: dict, extras: list[str]) -> list[str]:
    """The dependencies plus those of each extra; ``flashtts[x]`` (an extra naming others) is expanded."""
    name = project["name"]
    optional = project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    todo = [e.strip() for e in extras if e.strip()]
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"requirements.py: {name} has no extra {extra!r} (known: {', '.join(optional)})")
        seen.add(extra)
        for req in optional[extra]:
            own = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", req.strip())
            if own:
                todo += own.group(1).split(",")
            else:
                out.append(req)
    return list(dict.fromkeys(out))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as fh:
        project = tomllib.load(fh)["project"]
    print("\n".join(requirements(project, sys.argv[2].split(",") if len(sys.argv) > 2 else [])))
