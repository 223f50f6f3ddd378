"""Loaded voices: each loaded on first use, kept while used, evicted when idle or over a memory budget.

A request holds a lease on its voice from its first sentence to its last, so a voice is never
evicted under a running request. Voices not leased are evicted once unused for ``idle_seconds``
(:meth:`VoiceCache.evict_idle`, called periodically) or, least recently used first, when loading
another would take the loaded voices' weights past ``budget_bytes``. Pinned voices (the default
voice) stay loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Sized(Protocol):
    bytes: int


V = TypeVar("V", bound=Sized)


@dataclass
class _Entry(Generic[V]):
    value: V
    leases: int = 0
    last_used: float = field(default_factory=time.monotonic)


class VoiceCache(Generic[V]):
    """Voices by id, loaded by ``load(id)`` (in the caller's thread) when first leased."""

    def __init__(self, load: Callable[[str], V], size_hint: Callable[[str], int], budget_bytes: int = 0,
                 idle_seconds: float = 0.0, pinned: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._size_hint = size_hint
        self.budget_bytes = budget_bytes
        """Most bytes of weights loaded at once (0: no limit); a voice in use is never evicted for it."""
        self.idle_seconds = idle_seconds
        """Seconds an unused voice stays loaded (0: until the budget needs its room)."""
        self.pinned = frozenset(pinned)
        self._clock = clock
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.evictions = 0

    def lease(self, voice: str) -> V:
        """The voice, loaded if needed, held until :meth:`release`."""
        with self._lock:
            entry = self._take(voice)
            if entry is not None:
                return entry.value
            gate = self._loading.setdefault(voice, threading.Lock())
        with gate:  # one load per voice; others asking for it wait for that load
            with self._lock:
                entry = self._take(voice)
                if entry is not None:
                    return entry.value
                self._make_room(self._size_hint(voice))
            try:
                value = self._load(voice)
            finally:
                with self._lock:
                    self._loading.pop(voice, None)
            with self._lock:
                self._entries[voice] = _Entry(value, leases=1, last_used=self._clock())
                log.info("loaded voice %s (%.0f MiB); loaded: %s", voice, value.bytes / 2**20, ", ".join(self._entries))
                return value

    def _take(self, voice: str) -> _Entry[V] | None:
        entry = self._entries.get(voice)
        if entry is not None:
            entry.leases += 1
            entry.last_used = self._clock()
            self._entries.move_to_end(voice)
        return entry

    def release(self, voice: str) -> None:
        with self._lock:
            entry = self._entries.get(voice)
            if entry is not None:
                entry.leases = max(0, entry.leases - 1)
                entry.last_used = self._clock()

    def get(self, voice: str) -> V:
        """A loaded voice (one the caller holds a lease on)."""
        return self._entries[voice].value

    def _evictable(self) -> list[str]:
        return [k for k, e in self._entries.items() if e.leases == 0 and k not in self.pinned]

    def _make_room(self, wanted: int) -> None:
        if not self.budget_bytes:
            return
        for voice in self._evictable():
            if sum(e.value.bytes for e in self._entries.values()) + wanted <= self.budget_bytes:
                return
            self._evict(voice, "over the voice cache budget")
        if sum(e.value.bytes for e in self._entries.values()) + wanted > self.budget_bytes:
            log.warning("voice cache budget of %.0f MiB exceeded: every loaded voice is in use or pinned",
                        self.budget_bytes / 2**20)

    def _evict(self, voice: str, why: str) -> None:
        del self._entries[voice]
        self.evictions += 1
        log.info("evicted voice %s (%s)", voice, why)

    def evict_idle(self) -> list[str]:
        """Evict the voices unused for ``idle_seconds``; their ids."""
        if not self.idle_seconds:
            return []
        now = self._clock()
        with self._lock:
            gone = [k for k in self._evictable() if now - self._entries[k].last_used >= self.idle_seconds]
            for voice in gone:
                self._evict(voice, f"unused for {self.idle_seconds:g} s")
        return gone

    def loaded(self) -> list[dict]:
        """Each loaded voice: id, weights in MiB, requests using it, seconds since last used."""
        now = self._clock()
        with self._lock:
            return [{"id": k, "weights_mib": round(e.value.bytes / 2**20, 1), "in_use": e.leases,
                     "idle_s": round(now - e.last_used, 1), "pinned": k in self.pinned}
                    for k, e in self._entries.items()]

    def values(self) -> list[V]:
        """The loaded voices."""
        with self._lock:
            return [e.value for e in self._entries.values()]

    def __contains__(self, voice: str) -> bool:
        return voice in self._entries
