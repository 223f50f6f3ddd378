"""Piper's voice catalogue by name (``en_GB-alba-medium``): the ``voices.json`` of the Piper voices
repository on the Hugging Face Hub, and each voice's files fetched into the Hugging Face cache.

Everything goes through ``huggingface_hub`` (its cache, ``HF_HOME``/``HF_HUB_CACHE``, ``HF_ENDPOINT``,
``HF_HUB_OFFLINE`` and progress bars): a file is downloaded into a temporary file and renamed into the
cache only when complete, and a cached model whose size differs from the catalogue's is fetched again,
so an interrupted download is never loaded. Offline, files come from the cache; a voice missing there is
a :class:`~flashtts.engine.hub.ModelNotFoundError` that names the ``flashtts download`` command to run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flashtts.engine.hub import ModelNotFoundError, cache_dir, offline

log = logging.getLogger(__name__)

REPO = "rhasspy/piper-voices"
CATALOGUE_FILE = "voices.json"
_NAME = re.compile(r"^[a-z]{2,3}_[A-Z]{2}-[A-Za-z0-9_]+-[a-z_]+$")


def looks_like_voice_name(value: str) -> bool:
    """``language_REGION-name-quality``, as Piper names its catalogue voices (not a path; a misspelt
    quality still reads as a name, so that the catalogue can suggest the right one)."""
    return bool(_NAME.match(value))


class UnknownVoiceError(ValueError):
    """A name that is not in the catalogue; the message lists the closest names."""


@dataclass(frozen=True)
class CatalogueVoice:
    """One voice of ``voices.json``."""

    key: str
    language: str
    """Its language code as the catalogue gives it (``en_GB``)."""
    language_name: str
    model_file: str
    """Path of its ``.onnx`` in the repository."""
    size: int
    md5: str | None

    @property
    def config_file(self) -> str:
        return self.model_file + ".json"

    @classmethod
    def from_entry(cls, key: str, entry: dict[str, Any]) -> CatalogueVoice:
        files: dict[str, Any] = entry.get("files") or {}
        model = next((f for f in files if f.endswith(".onnx")), None)
        if model is None:
            raise ValueError(f"catalogue entry {key} names no .onnx file")
        language = entry.get("language") or {}
        return cls(key=key, language=str(language.get("code") or key.split("-")[0]),
                   language_name=str(language.get("name_english") or ""), model_file=model,
                   size=int(files[model].get("size_bytes") or 0), md5=files[model].get("md5_digest"))


def _fetch(filename: str, revision: str | None, what: str, voice: str, force: bool = False) -> Path:
    """One file of the voices repository from the cache or the Hub; a clear error when neither has it
    (``what`` the file is, ``voice`` the voice to name in the prefetch command)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RevisionNotFoundError

    try:
        return Path(hf_hub_download(REPO, filename, revision=revision, force_download=force))
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline() else "the Hub could not be reached"
        raise ModelNotFoundError(
            f"{what} is not in the Hugging Face cache at {cache_dir()} and {why}; run `flashtts download {voice}` "
            f"on a machine that reaches the Hub (same HF_HOME)") from None
    except (EntryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelNotFoundError(f"{what} is not in the Hub repository {REPO}: {exc}") from None


class Catalogue:
    """The voices of ``voices.json`` by name."""

    def __init__(self, voices: dict[str, CatalogueVoice], revision: str | None = None) -> None:
        self.voices = voices
        self.revision = revision

    @classmethod
    def load(cls, for_voice: str, revision: str | None = None) -> Catalogue:
        """The catalogue from the cache or the Hub (``for_voice`` names the voice wanted, for errors)."""
        path = _fetch(CATALOGUE_FILE, revision, f"Piper's voice list ({REPO}/{CATALOGUE_FILE})", for_voice)
        entries = json.loads(path.read_text(encoding="utf-8"))
        voices = {}
        for key, entry in entries.items():
            try:
                voices[key] = CatalogueVoice.from_entry(key, entry)
            except (ValueError, TypeError, AttributeError) as exc:
                log.debug("skipping catalogue entry %s: %s", key, exc)
        return cls(voices, revision)

    def close_names(self, name: str, count: int = 5) -> list[str]:
        """The catalogue names most like ``name`` (a name of the same language first)."""
        names = list(self.voices)
        found = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
        if not found:
            found = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=count, cutoff=0.4)
            found = [next(n for n in names if n.lower() == f) for f in found]
        return found

    def get(self, name: str) -> CatalogueVoice:
        voice = self.voices.get(name)
        if voice is None:
            close = self.close_names(name)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise UnknownVoiceError(f"'{name}' is not a voice of Piper's catalogue ({REPO}){hint}")
        return voice

    def fetch(self, voice: CatalogueVoice) -> tuple[Path, Path]:
        """The voice's local ``.onnx`` and ``.onnx.json``, downloaded unless cached.

        A cached model whose size is not the catalogue's (a file cut short by someone else's copy)
        is fetched again; a freshly downloaded one is checked against the catalogue's MD5 too.
        """
        from huggingface_hub import try_to_load_from_cache

        what = f"Piper voice '{voice.key}'"
        cached = try_to_load_from_cache(REPO, voice.model_file, revision=self.revision)
        config = _fetch(voice.config_file, self.revision, what, voice.key)
        model = _fetch(voice.model_file, self.revision, what, voice.key)
        if voice.size and model.stat().st_size != voice.size:
            log.warning("%s: cached model is %d bytes, the catalogue says %d; fetching it again", voice.key,
                        model.stat().st_size, voice.size)
            model, cached = _fetch(voice.model_file, self.revision, what, voice.key, force=True), None
            if model.stat().st_size != voice.size:
                raise ModelNotFoundError(f"{what}: the Hub served {model.stat().st_size} bytes, the catalogue "
                                         f"says {voice.size}")
        if not isinstance(cached, str) and voice.md5 and _md5(model) != voice.md5:
            log.warning("%s: downloaded model does not match the catalogue's MD5; fetching it again", voice.key)
            model = _fetch(voice.model_file, self.revision, what, voice.key, force=True)
            if _md5(model) != voice.md5:
                model.resolve().unlink(missing_ok=True)  # never loaded by a later start
                raise ModelNotFoundError(f"{what}: the Hub's model does not match the catalogue's MD5 {voice.md5}")
        return model, config


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
