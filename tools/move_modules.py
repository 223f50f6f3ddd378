"""Move flashtts modules with git mv and rewrite every reference (dotted names, `from flashtts import x`,
file paths) across the repository in one pass, so no name is rewritten twice (issue 19's package moves).

usage: python tools/move_modules.py MAPFILE   (run in the repository root)

MAPFILE lines: ``old/path.py new/path.py [keepname]`` (keepname: move the file but keep its dotted name,
for a module that becomes a package re-exporting it); ``#name old.dotted new.dotted`` renames a name only
(a package folder, a deleted re-export); other ``#`` lines are comments. tools/layers_moves.txt holds the
moves of issue 19's phase 2: a branch written against the old layout can have its own references
rewritten with the ``#name`` lines and the old -> new pairs (the git mv of files already moved fails, so
apply it to a copy of the map without those files, or rewrite by hand what git's rename detection left).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path.cwd()
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".sh", ".yml", ".yaml", ".json", ".js", ".html",
                 ".css", "", ".in"}
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__"}


def dotted(path: str) -> str:
    p = path[:-3] if path.endswith(".py") else path
    p = p.removesuffix("/__init__")
    return p.replace("/", ".")


def main() -> None:
    pairs = []
    keep_names: set[str] = set()
    for line in Path(sys.argv[1]).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            old, new, *flags = line.split()
            pairs.append((old, new))
            if "keepname" in flags:
                keep_names.add(dotted(old))
    extra_names: dict[str, str] = {}
    for line in Path(sys.argv[1]).read_text().splitlines():
        if line.startswith("#name "):  # '#name flashtts.routes flashtts.http.apis': a package's dotted name
            _, a, b = line.split()
            extra_names[a] = b
    names = {dotted(o): dotted(n) for o, n in pairs}
    names.update(extra_names)
    for k in keep_names:
        names.pop(k, None)
    paths = {o: n for o, n in pairs}
    # folders: 'flashtts/routes/' style mentions
    for a, b in extra_names.items():
        paths[a.replace(".", "/") + "/"] = b.replace(".", "/") + "/"
    for old, new in pairs:
        Path(new).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", old, new], check=True)
    keys = sorted(names, key=len, reverse=True)
    dot_re = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w])")
    pkeys = sorted(paths, key=len, reverse=True)
    path_re = re.compile(r"(?<![\w./])(" + "|".join(re.escape(k) for k in pkeys) + r")")
    from_re = re.compile(r"^(\s*)from flashtts import ([\w, ]+?)(\s*(#.*)?)$", re.M)
    files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
    changed = 0
    for f in files:
        p = Path(f)
        if not f or not p.is_file() or p.suffix not in TEXT_SUFFIXES or any(part in SKIP_DIRS for part in p.parts):
            continue
        if f.startswith("docs/benchmarks/") and p.suffix == ".json":
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue

        def from_sub(m: re.Match) -> str:
            indent, items, tail = m.group(1), m.group(2), m.group(3)
            out = []
            keep = []
            for item in [i.strip() for i in items.split(",") if i.strip()]:
                name, _, alias = item.partition(" as ")
                full = f"flashtts.{name.strip()}"
                if full in names:
                    new = names[full]
                    parent, leaf = new.rsplit(".", 1)
                    local = alias.strip() or name.strip()
                    out.append(f"{indent}from {parent} import {leaf}" + (f" as {local}" if local != leaf else ""))
                else:
                    keep.append(item)
            if not out:
                return m.group(0)
            if keep:
                out.insert(0, f"{indent}from flashtts import {', '.join(keep)}")
            out[-1] += tail
            return "\n".join(out)

        new_text = dot_re.sub(lambda m: names[m.group(1)], text)
        new_text = from_re.sub(from_sub, new_text) if p.suffix == ".py" else new_text
        new_text = path_re.sub(lambda m: paths[m.group(1)], new_text)
        if new_text != text:
            p.write_text(new_text, encoding="utf-8")
            changed += 1
    print(f"moved {len(pairs)} files, rewrote {changed} files")


if __name__ == "__main__":
    main()
