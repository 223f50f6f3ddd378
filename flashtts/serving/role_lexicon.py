"""A role's pronunciations: listed, replaced, added to and deleted from, stored with the role.

The entries live in the role's ``role.json`` (``Role.lexicon``), written by the registry like the
rest of the role (a new folder swapped in whole: a crash mid-write leaves the old role). They are
applied over the server's lexicon to whatever is said in that role's voice (docs/ssml.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import replace

from flashtts.errors import APIError, NotFoundError, StorageError
from flashtts.ssml import Entry, entries_from_json
from flashtts.voices.registry import Role, SpeakerRegistry

log = logging.getLogger(__name__)

MAX_ROLE_ENTRIES = 1000
"""Most pronunciations one role may hold."""


def role_entries(role: Role) -> tuple[Entry, ...]:
    """The role's entries; a stored list that no longer reads (edited by hand) is left out and logged."""
    if not role.lexicon:
        return ()
    try:
        return tuple(entries_from_json(role.lexicon))
    except ValueError as exc:
        log.warning("role %s: its lexicon is left out: %s", role.name, exc)
        return ()


def entries_of(value: object, param: str = "entries") -> list[Entry]:
    """Entries from a request body, or a 400 naming the one at fault."""
    try:
        entries = entries_from_json(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise APIError(f"{param}: {exc}", param=param, code="invalid_lexicon") from None
    if len(entries) > MAX_ROLE_ENTRIES:
        raise APIError(f"{param}: {len(entries)} entries; a role holds at most {MAX_ROLE_ENTRIES}", param=param,
                       code="invalid_lexicon")
    return entries


class RoleLexicons:
    """Reading and changing roles' pronunciations, one change at a time, on worker threads."""

    def __init__(self, registry: SpeakerRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()

    async def get(self, name: str) -> list[Entry]:
        role = await asyncio.to_thread(self.registry.get, name)
        return list(role_entries(role))

    async def replace(self, name: str, entries: list[Entry]) -> list[Entry]:
        return await asyncio.to_thread(self._change, name, lambda _: entries)

    async def add(self, name: str, entry: Entry) -> list[Entry]:
        def added(old: list[Entry]) -> list[Entry]:
            return [e for e in old if e.identity != entry.identity] + [entry]
        return await asyncio.to_thread(self._change, name, added)

    async def delete(self, name: str, word: str) -> list[Entry]:
        def removed(old: list[Entry]) -> list[Entry]:
            left = [e for e in old if e.key != word and e.identity != word.casefold()]
            if len(left) == len(old):
                raise NotFoundError(f"role '{name}' has no pronunciation for '{word[:100]}'", param="word",
                               code="pronunciation_not_found")
            return left
        return await asyncio.to_thread(self._change, name, removed)

    def _change(self, name: str, change) -> list[Entry]:
        with self._lock:
            role, samples, rate = self.registry.get_with_audio(name)
            entries = change(list(role_entries(role)))
            if len(entries) > MAX_ROLE_ENTRIES:
                raise APIError(f"a role holds at most {MAX_ROLE_ENTRIES} pronunciations", param="word",
                               code="invalid_lexicon")
            stored = replace(role, lexicon=[e.as_json() for e in entries])
            try:
                self.registry.add(stored, samples, rate, overwrite=True)
            except OSError as exc:
                raise StorageError(f"could not store role: {exc.strerror or exc}", code="storage_error") from None
            return entries
