"""The speaker registry: one folder per role under ``role_dir``, written atomically.

Layout::

    role_dir/<name>/role.json       metadata (see :class:`Role`)
    role_dir/<name>/reference.wav   reference clip (16-bit mono), when the role clones

A role is written into a hidden temp folder and renamed into place, so a crash at any point
leaves either the old role or the new one, never half of one. Replacing a role takes two
renames (the old folder aside to ``.old-<hex>-<name>``, then the new one into place); readers
fall back to that old folder while the name is missing, and a start after a crash between the
two renames puts it back. Other hidden entries (``.tmp-*``, ``.trash-*``) are ignored by
readers and swept at start. Every read goes to disk, so several
server processes (replicas) sharing one directory see each other's roles at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from flashtts.audio import wav_header

log = logging.getLogger(__name__)

ROLE_FILE = "role.json"
_OLD = ".old-"
_OLD_NAME_AT = len(_OLD) + 32 + 1  # ".old-" + uuid hex + "-"
AUDIO_FILE = "reference.wav"
_NAME_RE = re.compile(r"^[\w][\w .\-]{0,63}$", re.UNICODE)


class RoleError(ValueError):
    """Invalid role name or content (answered with 400)."""


class RoleNotFoundError(LookupError):
    pass


class RoleExistsError(ValueError):
    pass


def validate_name(name: str) -> str:
    """The name, normalised, if it is safe as a folder name; else RoleError."""
    if not isinstance(name, str):
        raise RoleError("role name must be a string")
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise RoleError("role name is empty")
    if name in (".", "..") or ".." in name or "/" in name or "\\" in name or "\x00" in name:
        raise RoleError(f"invalid role name {name!r}: no path separators or '..'")
    if not _NAME_RE.match(name) or name.endswith((".", " ")):
        raise RoleError(
            f"invalid role name {name!r}: use 1-64 letters, digits, '_', '-', '.' or spaces, starting with a letter or digit"
        )
    return name


@dataclass
class Role:
    name: str
    voice: str | None = None
    """Built-in engine voice this role speaks with (Piper roles, preset speakers)."""
    engine: str | None = None
    """Engine the role was made for, if it only makes sense on one."""
    reference_text: str | None = None
    language: str | None = None
    instructions: str | None = None
    speed: float | None = None
    description: str = ""
    created_at: float = field(default_factory=time.time)
    audio_sha256: str | None = None
    """Hash of the reference clip; with the name it keys clone-prompt caches."""
    sample_rate: int | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_sha256 is not None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Role":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class SpeakerRegistry:
    def __init__(self, root: Path, defaults: Path | None = None) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        if created and defaults is not None and defaults.is_dir() and defaults.resolve() != self.root.resolve():
            self._seed(defaults)
        self.sweep()

    def _seed(self, defaults: Path) -> None:
        for entry in sorted(defaults.iterdir()):
            if entry.is_dir() and (entry / ROLE_FILE).is_file() and not entry.name.startswith("."):
                shutil.copytree(entry, self.root / entry.name, dirs_exist_ok=True)

    def sweep(self) -> None:
        """Remove leftovers of interrupted writes and deletes; restore a role whose replace was cut short."""
        with self._lock:
            for entry in sorted(self.root.iterdir(), key=lambda p: p.name):
                if entry.name.startswith(_OLD):
                    target = self.root / entry.name[_OLD_NAME_AT:]
                    if not target.exists():
                        try:
                            os.rename(entry, target)
                            continue
                        except OSError:
                            pass
                    shutil.rmtree(entry, ignore_errors=True)
                elif entry.name.startswith((".tmp-", ".trash-")):
                    shutil.rmtree(entry, ignore_errors=True)

    # ---- reading -------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _set_aside(self, name: str) -> Path | None:
        """The old folder of a role being replaced right now (or whose replace crashed), if any."""
        for entry in self.root.glob(_OLD + "*"):
            if entry.name[_OLD_NAME_AT:] == name and (entry / ROLE_FILE).is_file():
                return entry
        return None

    def _folder(self, name: str) -> Path:
        """Where the role ``name`` is read from: its folder, or its old one mid-replace."""
        folder = self._dir(name)
        if not (folder / ROLE_FILE).is_file():
            folder = self._set_aside(folder.name) or folder
        return folder

    def list(self) -> list[Role]:
        folders: dict[str, Path] = {}
        for entry in self.root.iterdir():
            if entry.name.startswith(_OLD) and entry.is_dir():
                folders.setdefault(entry.name[_OLD_NAME_AT:], entry)
            elif not entry.name.startswith(".") and entry.is_dir():
                folders[entry.name] = entry
        roles = []
        for name, folder in sorted(folders.items()):
            try:
                roles.append(self._load(folder, name))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable role %s: %s", name, exc)
        return roles

    def names(self) -> list[str]:
        return [r.name for r in self.list()]

    def _load(self, folder: Path, name: str | None = None) -> Role:
        data = json.loads((folder / ROLE_FILE).read_text(encoding="utf-8"))
        role = Role.from_json(data)
        role.name = name or folder.name
        return role

    def get(self, name: str) -> Role:
        try:
            folder = self._folder(name)
        except RoleError:
            raise RoleNotFoundError(name) from None
        if not (folder / ROLE_FILE).is_file():
            raise RoleNotFoundError(name)
        return self._load(folder, validate_name(name))

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except RoleNotFoundError:
            return False

    def audio_path(self, name: str) -> Path | None:
        path = self._folder(name) / AUDIO_FILE
        return path if path.is_file() else None

    def role_dir(self, name: str) -> Path:
        return self._dir(name)

    def load_audio(self, name: str) -> tuple[np.ndarray, int]:
        """The role's reference clip as float32 mono and its rate."""
        path = self.audio_path(name)
        if path is None:
            raise RoleNotFoundError(f"role '{name}' has no reference audio")
        raw = path.read_bytes()
        rate = int.from_bytes(raw[24:28], "little")
        samples = np.frombuffer(raw[44:], dtype="<i2").astype(np.float32) / 32767.0
        return samples, rate

    # ---- writing -------------------------------------------------------------------------
    def add(self, role: Role, audio: np.ndarray | None = None, sample_rate: int | None = None,
            overwrite: bool = False) -> Role:
        """Write a role (and its clip) atomically; returns what was stored."""
        role.name = validate_name(role.name)
        files: dict[str, bytes] = {}
        if audio is not None:
            if not sample_rate:
                raise RoleError("sample_rate is required with audio")
            pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
            files[AUDIO_FILE] = wav_header(len(pcm) // 2, sample_rate) + pcm
            role.audio_sha256 = hashlib.sha256(pcm).hexdigest()
            role.sample_rate = sample_rate
        files[ROLE_FILE] = json.dumps(role.to_json(), ensure_ascii=False, indent=2).encode("utf-8")
        with self._lock:
            target = self.root / role.name
            if target.exists() and not overwrite:
                raise RoleExistsError(f"role '{role.name}' already exists")
            tmp = self.root / f".tmp-{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                for fname, data in files.items():
                    _write_file(tmp / fname, data)
                _fsync_dir(tmp)
                self._swap_in(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _fsync_dir(self.root)
        return role

    def _swap_in(self, tmp: Path, target: Path) -> None:
        if target.exists():
            old = self.root / f"{_OLD}{uuid.uuid4().hex}-{target.name}"
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)

    def delete(self, name: str) -> None:
        with self._lock:
            target = self._folder(name)
            if not (target / ROLE_FILE).is_file():
                raise RoleNotFoundError(name)
            trash = self.root / f".trash-{uuid.uuid4().hex}"
            os.rename(target, trash)
            _fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
