"""The speaker registry: one folder per role under ``role_dir``, written atomically.

Layout::

    role_dir/<key>/role.json       metadata (see :class:`Role`; ``name`` is the display name)
    role_dir/<key>/reference.wav   reference clip (16-bit mono), when the role clones
    role_dir/.lock                 taken by writers (and the start-up sweep), across processes

``<key>`` is the role name folded for comparison (Unicode NFKC, trimmed, case-folded): names
that differ only by case, compatibility form or surrounding spaces are one role.

A role is written into a hidden temp folder and swapped into place, so a crash at any point
leaves either the old role or the new one, never half of one. Where the OS can exchange two
folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``), replacing a role is one exchange and
a reader never finds the name missing; elsewhere the old folder is first set aside
(``.old-<hex>-<key>``), readers fall back to it, and retry across the gap. Writers hold an
exclusive lock on ``role_dir/.lock`` (a ``flock``), so several server processes sharing one
directory never race, and the start-up sweep only removes leftovers no writer is working on.
Reads take no lock and go to disk, so replicas see each other's roles at once.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flashtts.audio import from_pcm16, pcm16, wav_header

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ROLE_FILE = "role.json"
AUDIO_FILE = "reference.wav"
LOCK_FILE = ".lock"
_OLD = ".old-"
_OLD_NAME_AT = len(_OLD) + 32 + 1  # ".old-" + uuid hex + "-"
MAX_NAME_CHARS = 64
MAX_NAME_BYTES = 128
"""Longest display name in UTF-8 bytes; its folder name (the folded key) must also fit the
file-name limit with the ``.old-<hex>-`` prefix."""
_MAX_KEY_BYTES = 200
_READ_TRIES = 5


class RoleError(ValueError):
    """Invalid role name or content (answered with 400)."""


class RoleNotFoundError(LookupError):
    pass


class RoleExistsError(ValueError):
    pass


def _name_char_ok(ch: str) -> bool:
    return ch.isalnum() or ch in "_-. " or unicodedata.category(ch) in ("Mn", "Mc")


def validate_name(name: str) -> str:
    """The display name (NFC, trimmed) if it is a valid role name; else RoleError."""
    if not isinstance(name, str):
        raise RoleError("role name must be a string")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise RoleError("role name holds an unpaired surrogate")
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise RoleError("role name is empty")
    if name in (".", "..") or ".." in name or "/" in name or "\\" in name or "\x00" in name:
        raise RoleError(f"invalid role name {name!r}: no path separators or '..'")
    if (len(name) > MAX_NAME_CHARS or not (name[0].isalnum() or name[0] == "_")
            or not all(_name_char_ok(ch) for ch in name) or name.endswith(".")):
        raise RoleError(f"invalid role name {name!r}: use 1-{MAX_NAME_CHARS} letters, digits, '_', '-', '.' "
                        "or spaces, starting with a letter or digit")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES or len(name_key(name).encode("utf-8")) > _MAX_KEY_BYTES:
        raise RoleError(f"invalid role name: longer than {MAX_NAME_BYTES} bytes in UTF-8")
    return name


def name_key(name: str) -> str:
    """The folded form two role names are compared by (and the role's folder name)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", name.strip()).casefold())


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
    lexicon: list[dict[str, str]] = field(default_factory=list)
    """The role's pronunciations (``{"word", "ipa", "respelling"}``, docs/ssml.md), over the server's lexicon."""

    @property
    def has_audio(self) -> bool:
        return self.audio_sha256 is not None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Role:
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


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc: ctypes.CDLL | bool | None = None


def _renameat2() -> Any:
    """libc's ``renameat2``, or None where there is none."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            _libc = False
    return getattr(_libc, "renameat2", None) if _libc else None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step; False where the OS or file system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


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
                shutil.copytree(entry, self.root / name_key(entry.name), dirs_exist_ok=True)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The writers' lock: this process's threads, and other processes through ``flock``."""
        with self._lock:
            if fcntl is None:
                yield
                return
            with open(self.root / LOCK_FILE, "a+b") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def sweep(self) -> None:
        """Remove leftovers of interrupted writes and deletes; restore a role whose replace was cut short.

        Runs under the writers' lock: a writer holds it for its whole write, so any temp folder
        found here belongs to a process that died mid-write.
        """
        with self._writing():
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
    def _key(self, name: str) -> str:
        try:
            return name_key(validate_name(name))
        except RoleError:
            raise RoleNotFoundError(name) from None

    def _set_aside(self, key: str) -> Path | None:
        """The old folder of a role being replaced right now (or whose replace crashed), if any."""
        for entry in self.root.glob(_OLD + "*"):
            if entry.name[_OLD_NAME_AT:] == key and (entry / ROLE_FILE).is_file():
                return entry
        return None

    def _legacy(self, key: str) -> Path | None:
        """A folder written before names were folded (``Alice/`` for key ``alice``), if any."""
        for entry in self.root.iterdir():
            if not entry.name.startswith(".") and entry.name != key and name_key(entry.name) == key:
                return entry
        return None

    def _folder(self, key: str) -> Path:
        """Where the role ``key`` is read from: its folder, its old one mid-replace, or a legacy one."""
        folder = self.root / key
        if (folder / ROLE_FILE).is_file():
            return folder
        return self._set_aside(key) or self._legacy(key) or folder

    def list(self) -> list[Role]:
        folders: dict[str, Path] = {}
        for entry in self.root.iterdir():
            if entry.name.startswith(_OLD) and entry.is_dir():
                folders.setdefault(entry.name[_OLD_NAME_AT:], entry)
            elif not entry.name.startswith(".") and entry.is_dir():
                folders[name_key(entry.name)] = entry
        roles = []
        for key, folder in sorted(folders.items()):
            try:
                roles.append(self._load_retrying(key, folder))
            except RoleNotFoundError:
                continue
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable role %s: %s", key, exc)
        return roles

    def names(self) -> builtins.list[str]:  # (``list`` is a method here)
        return [r.name for r in self.list()]

    @staticmethod
    def _load(folder: Path) -> Role:
        data = json.loads((folder / ROLE_FILE).read_text(encoding="utf-8"))
        role = Role.from_json(data)
        key = folder.name[_OLD_NAME_AT:] if folder.name.startswith(_OLD) else name_key(folder.name)
        if not isinstance(role.name, str) or name_key(role.name) != key:
            role.name = folder.name  # metadata from another tool: the folder names the role
        return role

    def _load_retrying(self, key: str, folder: Path | None = None) -> Role:
        """Read a role; a read that meets a replace in progress looks again (never a false miss)."""
        for attempt in range(_READ_TRIES):
            folder = folder if folder is not None and attempt == 0 else self._folder(key)
            try:
                return self._load(folder)
            except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
                if attempt == _READ_TRIES - 1:
                    break
                time.sleep(0.001 * (attempt + 1))
        raise RoleNotFoundError(key)

    def get(self, name: str) -> Role:
        return self._load_retrying(self._key(name))

    def audio_path(self, name: str) -> Path | None:
        path = self._folder(self._key(name)) / AUDIO_FILE
        return path if path.is_file() else None

    def role_dir(self, name: str) -> Path:
        return self.root / self._key(name)

    def load_audio(self, name: str) -> tuple[np.ndarray, int]:
        """The role's reference clip as float32 mono and its rate."""
        role, samples, rate = self.get_with_audio(name)
        if samples is None or rate is None:
            raise RoleNotFoundError(f"role '{role.name}' has no reference audio")
        return samples, rate

    def get_with_audio(self, name: str) -> tuple[Role, np.ndarray | None, int | None]:
        """A role and its clip read as one consistent version, even while it is being replaced."""
        key = self._key(name)
        for attempt in range(_READ_TRIES):
            role = self._load_retrying(key)
            if not role.has_audio:
                return role, None, None
            try:
                raw = (self._folder(key) / AUDIO_FILE).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                raw = b""
            pcm = raw[44:]
            if len(raw) >= 44 and hashlib.sha256(pcm).hexdigest() == role.audio_sha256:
                rate = int.from_bytes(raw[24:28], "little")
                return role, from_pcm16(pcm), rate
            time.sleep(0.001 * (attempt + 1))  # metadata and clip of different versions: read again
        raise RoleNotFoundError(name)

    # ---- writing -------------------------------------------------------------------------
    def add(self, role: Role, audio: np.ndarray | None = None, sample_rate: int | None = None,
            overwrite: bool = False) -> Role:
        """Write a role (and its clip) atomically; returns what was stored."""
        role.name = validate_name(role.name)
        key = name_key(role.name)
        files: dict[str, bytes] = {}
        if audio is not None:
            if not sample_rate:
                raise RoleError("sample_rate is required with audio")
            pcm = pcm16(audio)
            files[AUDIO_FILE] = wav_header(len(pcm) // 2, sample_rate) + pcm
            role.audio_sha256 = hashlib.sha256(pcm).hexdigest()
            role.sample_rate = sample_rate
        files[ROLE_FILE] = json.dumps(role.to_json(), ensure_ascii=False, indent=2).encode("utf-8")
        with self._writing():
            existing = self.root / key
            legacy = None if existing.exists() else self._legacy(key)
            if (existing.exists() or legacy is not None) and not overwrite:
                shown = self._load_retrying(key).name if (self._folder(key) / ROLE_FILE).is_file() else key
                raise RoleExistsError(f"role '{shown}' already exists")
            tmp = self.root / f".tmp-{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                for fname, data in files.items():
                    _write_file(tmp / fname, data)
                _fsync_dir(tmp)
                self._swap_in(tmp, existing)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if legacy is not None:
                shutil.rmtree(legacy, ignore_errors=True)
            _fsync_dir(self.root)
        return role

    def _swap_in(self, tmp: Path, target: Path) -> None:
        if not target.exists():
            os.rename(tmp, target)
            return
        if _exchange(tmp, target):  # readers see the old role or the new one, never neither
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = self.root / f"{_OLD}{uuid.uuid4().hex}-{target.name}"
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)

    def delete(self, name: str) -> Role:
        """Remove a role; returns what was removed (RoleError for a name no role can have)."""
        key = name_key(validate_name(name))
        with self._writing():
            target = self._folder(key)
            if not (target / ROLE_FILE).is_file():
                raise RoleNotFoundError(name)
            role = self._load(target)
            trash = self.root / f".trash-{uuid.uuid4().hex}"
            os.rename(target, trash)
            _fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
        return role
