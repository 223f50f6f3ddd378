"""``make gpu-wheels``: the wheels of ``wheels.txt`` into ``.whl/``, for the GPU machine's Python (cp312 manylinux).

    python benchmarks/gpu/wheels.py [--dest .whl] [--local]

* downloads each pin with ``pip download --no-deps --only-binary=:all:`` (``--local``: for the Python
  running this, e.g. the CPU rehearsal's; otherwise Python 3.12 on manylinux x86_64, the GPU image);
* removes any other file from ``--dest`` (pip installs one version of each or fails);
* checks every wheel's requirements (``Requires-Dist`` for Python 3.12 on Linux) are on the image
  (``image.txt``) or carried, naming the few that are known to be unused;
* fails when ``--dest`` inside this repository would take the working tree past the 64 MiB that
  travels to the GPU machine (the tracked and untracked-but-not-ignored files count too).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

from manifest import IMAGE, ROOT, WHEELS, normalize, read_list

TRAVEL_LIMIT = 64 * 2**20
MARGIN = 2 * 2**20  # room for files written before the run (notes, a results folder left over)
PLATFORMS = ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_28_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64",
             "manylinux1_x86_64", "linux_x86_64"]
# requirements of carried wheels that the run never imports (installed with --no-deps)
UNUSED = {
    "gradio": "qwen-tts-hf's demo only",
    "qwentts-cpp-python": "faster-qwen3-tts on macOS only",
}
FILE_ONLY = {"dashscope": "only its qwen.tiktoken file is read; the package is never imported"}


def _dist_name(wheel: Path) -> str:
    return normalize(wheel.name.split("-")[0])


def download(dest: Path, local: bool) -> None:
    pins = read_list(WHEELS)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    if not local:
        cmd += ["--python-version", "3.12", "--implementation", "cp"]
        for plat in PLATFORMS:
            cmd += ["--platform", plat]
    cmd += [f"{name}=={version}" for name, version in pins.items()]
    print("$", " ".join(cmd[:8]), "...", f"({len(pins)} pins)", flush=True)
    if subprocess.run(cmd).returncode != 0:
        sys.exit("pip download failed (above): is each pin of wheels.txt published as a wheel for that Python?")
    by_name: dict[str, list[Path]] = {}
    for f in dest.iterdir():
        if f.suffix != ".whl" or _dist_name(f) not in pins or f"-{pins[_dist_name(f)]}-" not in f.name:
            print(f"removing {f.name} (not pinned in wheels.txt)")
            f.unlink()
            continue
        by_name.setdefault(_dist_name(f), []).append(f)
    missing = sorted(set(pins) - set(by_name))
    doubles = {k: [p.name for p in v] for k, v in by_name.items() if len(v) > 1}
    if missing or doubles:
        sys.exit(f"wheels.txt pins without exactly one wheel: missing {missing}, several {doubles}")


def requirements_problems(dest: Path) -> list[str]:
    """Requirements of the carried wheels (Python 3.12, Linux) that are neither on the image nor carried."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare Python: pip's own copy
        from pip._vendor.packaging.requirements import Requirement

    env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
    have = set(read_list(IMAGE)) | set(read_list(WHEELS))
    problems = []
    for wheel in sorted(dest.glob("*.whl")):
        if _dist_name(wheel) in FILE_ONLY:
            continue
        with zipfile.ZipFile(wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            lines = z.read(meta).decode().splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = normalize(req.name)
            if name in have:
                continue
            if name in UNUSED:
                print(f"  {wheel.name}: requires {name}, not carried ({UNUSED[name]})")
                continue
            problems.append(f"{wheel.name} requires {req}: neither on the image (image.txt) nor in wheels.txt")
    return problems


def travelling_bytes() -> int:
    """Bytes of the files that travel with the working tree: tracked, and untracked but not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    total = 0
    for rel in filter(None, out.split("\0")):
        p = ROOT / rel
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", type=Path, default=ROOT / ".whl")
    p.add_argument("--local", action="store_true", help="wheels for this Python (the CPU rehearsal)")
    a = p.parse_args()
    download(a.dest, a.local)
    problems = requirements_problems(a.dest)
    wheels = sum(f.stat().st_size for f in a.dest.glob("*.whl"))
    print(f"{len(list(a.dest.glob('*.whl')))} wheels, {wheels / 2**20:.1f} MiB in {a.dest}")
    if a.dest.resolve().is_relative_to(ROOT.resolve()):
        tree = travelling_bytes()
        left = TRAVEL_LIMIT - MARGIN - tree
        print(f"working tree {tree / 2**20:.1f} MiB; room for wheels {left / 2**20:.1f} MiB "
              f"(64 MiB travel, {MARGIN / 2**20:.0f} MiB kept spare)")
        if wheels > left:
            largest = sorted(a.dest.glob("*.whl"), key=lambda f: -f.stat().st_size)[:5]
            problems.append(f"wheels ({wheels / 2**20:.1f} MiB) exceed the room left ({left / 2**20:.1f} MiB); "
                            f"largest: {', '.join(f'{f.name} {f.stat().st_size / 2**20:.1f} MiB' for f in largest)}")
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
