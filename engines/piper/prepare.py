"""A Piper voice model prepared once for serving, and cached on disk.

Piper reports phoneme alignments only from a model patched to output each phoneme id's sample
count (``piper.patch_voice_with_alignment``); patching in memory costs the ``onnx`` package and
a parsed copy of the model in the server process. So the patch is done once, in a process of its
own (``python -m flashtts_engines.piper.prepare MODEL DEST``), and saved in the cache as:

- ``graph.onnx``: the (patched) graph, slimmed of what every session would copy without need
  (shape annotations, node names, long tensor names), its large initializers stored outside it in
  ``weights.bin``;
- ``weights.bin``: those initializers' bytes, each 64-byte aligned;
- ``weights.json``: name -> ``[offset, shape, dtype]`` of each, so the server maps them with NumPy
  and hands the same buffers to every ONNX session of the voice (one copy of the weights).

An entry is written into a temporary folder and renamed into place, so a crash or a concurrent
start never leaves a half-written entry that a later start would load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = "3"
"""Bumped whenever the layout of an entry changes (older entries are then rebuilt)."""
ALIGN = 64
INLINE_BYTES = 1024
"""Initializers smaller than this stay inside the graph."""


@dataclass(frozen=True)
class PreparedModel:
    folder: Path

    @property
    def graph(self) -> Path:
        return self.folder / "graph.onnx"

    @property
    def weights(self) -> Path:
        return self.folder / "weights.bin"

    @property
    def index(self) -> dict[str, list]:
        return json.loads((self.folder / "weights.json").read_text(encoding="utf-8"))

    @property
    def aligned(self) -> bool:
        return bool(json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))["aligned"])


def cache_root() -> Path:
    """``$FLASHTTS_CACHE_DIR``, else ``$XDG_CACHE_HOME/flashtts``, else ``~/.cache/flashtts``."""
    explicit = os.environ.get("FLASHTTS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "flashtts"


def _key(model: Path, aligned: bool) -> str:
    """Names the entry of one model file as it is now (its real path, size and modification time)."""
    import importlib.util

    real = model.resolve()
    st = real.stat()
    spec = importlib.util.find_spec("piper.patch_voice_with_alignment")  # the patch's own version, not imported
    patch = Path(spec.origin).stat() if spec is not None and spec.origin else None
    text = f"{FORMAT}|{real}|{st.st_size}|{st.st_mtime_ns}|{aligned}|{patch and (patch.st_size, patch.st_mtime_ns)}"
    return f"{model.name.removesuffix('.onnx')}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def prepared(model: Path, aligned: bool, root: Path | None = None) -> PreparedModel:
    """The cached prepared copy of ``model``, built (in a process of its own) when missing."""
    root = root or cache_root()
    entry = PreparedModel(root / "piper" / _key(model, aligned))
    if (entry.folder / "meta.json").is_file():
        return entry
    try:
        entry.folder.parent.mkdir(parents=True, exist_ok=True)
        _sweep(entry.folder.parent)
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=entry.folder.parent))
    except OSError as exc:  # a read-only cache: build into a temporary folder for this process
        log.warning("cannot write the model cache at %s (%s); preparing %s in a temporary folder", root, exc,
                    model.name)
        entry = PreparedModel(Path(tempfile.mkdtemp(prefix="flashtts-piper-")) / "model")
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=entry.folder.parent))
    try:
        command = [sys.executable, "-m", "flashtts_engines.piper.prepare", str(model), str(work)]
        done = subprocess.run(command + (["--aligned"] if aligned else []), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"preparing Piper voice {model} failed:\n{done.stderr[-3000:]}")
        try:
            work.rename(entry.folder)
        except OSError:
            if not (entry.folder / "meta.json").is_file():  # not another process's finished entry
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("prepared Piper voice %s in %s", model.name, entry.folder)
    return entry


def _sweep(folder: Path, older_than: float = 3600.0) -> None:
    """Remove what builds killed mid-way left (``.building-*`` folders older than an hour)."""
    import time

    for stale in folder.glob(".building-*"):
        try:
            if time.time() - stale.stat().st_mtime > older_than:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def build(model: Path, dest: Path, aligned: bool) -> None:
    """Write the prepared copy of ``model`` into the folder ``dest`` (needs the ``onnx`` package)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(model))
    patched = False
    if aligned:
        from piper.patch_voice_with_alignment import add_alignment_output

        try:
            add_alignment_output(proto)
            patched = True
        except ValueError as error:  # no such tensor, or already an output: as it is
            patched = len(proto.graph.output) > 1
            log.info("not patching %s for alignments: %s", model.name, error)
    _slim(proto)
    index: dict[str, list] = {}
    offset = 0
    with open(dest / "weights.bin", "wb") as out:
        for init in proto.graph.initializer:
            array = numpy_helper.to_array(init)
            if array.nbytes < INLINE_BYTES:
                continue
            pad = -offset % ALIGN
            out.write(b"\0" * pad)
            offset += pad
            out.write(np.ascontiguousarray(array).tobytes())
            index[init.name] = [offset, list(array.shape), str(array.dtype)]
            # the graph keeps a reference to the bytes (valid ONNX on its own); the server supplies them
            init.ClearField("raw_data")
            for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
                init.ClearField(field)
            init.data_location = onnx.TensorProto.EXTERNAL
            del init.external_data[:]
            for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(array.nbytes))):
                item = init.external_data.add()
                item.key, item.value = key, value
            offset += array.nbytes
    (dest / "graph.onnx").write_bytes(proto.SerializeToString())
    (dest / "weights.json").write_text(json.dumps(index), encoding="utf-8")
    (dest / "meta.json").write_text(json.dumps({"source": str(model), "aligned": patched, "format": FORMAT}),
                                    encoding="utf-8")


def _slim(proto) -> None:
    """What each ONNX Runtime session would hold a copy of without need (~3 MB a session): the shape
    annotations (it infers them), node names and docs, and long tensor names (``/dec/resblocks.0/...``,
    renamed ``t0``, ``t1``...; the graph's inputs and outputs keep theirs)."""
    graph = proto.graph
    del graph.value_info[:]
    nested = any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute)
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep or nested:  # a subgraph may name outer tensors: leave all names then
            return name
        return names.setdefault(name, f"t{len(names)}")

    for node in graph.node:
        node.name = node.doc_string = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    for init in graph.initializer:
        init.name = short(init.name)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Prepare a Piper voice model for flashtts (see the module doc).")
    parser.add_argument("model", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--aligned", action="store_true", help="patch the model to output phoneme sample counts")
    args = parser.parse_args()
    build(args.model, args.dest, args.aligned)


if __name__ == "__main__":
    main()
