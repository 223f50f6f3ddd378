"""A pronunciation lexicon: words and phrases with an IPA pronunciation and/or a respelling.

The file format (``--lexicon FILE``, UTF-8), one entry a line; blank lines and lines starting with
``#`` are skipped::

    # WORD OR PHRASE = /IPA/ respelling
    Nguyen = /ŋwiən/ win
    SQL = sequel
    kubectl = /ˈkjuːb kənˌtɹoʊl/
    New York = /nuː ˈjɔːɹk/

Matching rules:

* **case**: a key written in lower case matches in any case (``nguyen`` matches ``NGUYEN``); a key
  with a capital letter matches exactly as written (``US`` does not match ``us``);
* **word boundaries**: a key matches only where the characters just before and after it are not
  letters, digits or underscores (``SQL`` matches in ``SQL's`` and ``(SQL)``, not in ``MySQL``);
* **phrases**: a space in a key matches any run of whitespace;
* the text is read once, left to right; where keys overlap the one that starts first wins, then
  the longest, then one with capitals over a lower-case one; replaced text is not looked at again.

Phoneme engines say the IPA (the respelling where there is none); text engines say the respelling
(the word as written where there is none). Timestamps report the word as written.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG

from flashtts.ssml.ipa import check_ipa
from flashtts.ssml.limits import LexiconError
from flashtts.ssml.model import Document, Segment, Span

MAX_KEY = 100
MAX_RESPELLING = 200
MAX_ENTRIES = 20_000
"""Most entries in one lexicon file."""
MAX_FILE_BYTES = 4 * 1024 * 1024

_LEAD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _clean(value: str, what: str, limit: int) -> str:
    text = " ".join(value.split())
    if _CONTROL.search(value.replace("\t", " ")):
        raise ValueError(f"the {what} holds a control character")
    if len(text) > limit:
        raise ValueError(f"the {what} is {len(text)} characters; the limit is {limit}")
    return text


@dataclass(frozen=True)
class Entry:
    """One word or phrase and how to say it."""

    key: str
    ipa: str | None = None
    respelling: str | None = None

    @property
    def cased(self) -> bool:
        """The key has a capital letter, so it matches only as written."""
        return any(ch.isupper() for ch in self.key)

    @property
    def identity(self) -> str:
        """Keys with the same identity are the same entry (the later one replaces the earlier)."""
        return self.key if self.cased else self.key.casefold()

    @property
    def lead(self) -> str:
        """The letters and digits the key starts with (its index in a lexicon), case-folded."""
        m = _LEAD.match(self.key)
        return m.group(0).casefold() if m else ""

    @classmethod
    def make(cls, key: str, ipa: str | None = None, respelling: str | None = None) -> Entry:
        """An entry checked: ``ValueError`` says what is wrong."""
        key = _clean(key, "word", MAX_KEY)
        if not any(ch.isalnum() for ch in key):
            raise ValueError(f"'{key[:40]}' has no letter or digit to match")
        ipa = check_ipa(ipa) if ipa is not None and ipa.strip() else None
        respelling = _clean(respelling, "respelling", MAX_RESPELLING) if respelling else None
        if respelling is not None and not any(ch.isalnum() for ch in respelling):
            raise ValueError("the respelling has no letter or digit to say")
        if ipa is None and respelling is None:
            raise ValueError(f"'{key[:40]}' has neither a /pronunciation/ nor a respelling")
        return cls(key, ipa, respelling)

    @classmethod
    def parse(cls, key: str, value: str) -> Entry:
        """An entry from a key and a value written as in the file: ``/IPA/ respelling``, ``/IPA/`` or
        ``respelling``."""
        value = value.strip()
        ipa = None
        if value.startswith("/"):
            end = value.find("/", 1)
            if end < 0:
                raise ValueError("the /pronunciation/ has no closing slash")
            ipa, value = value[1:end], value[end + 1:].strip()
        return cls.make(key, ipa, value or None)

    @classmethod
    def from_json(cls, item: object) -> Entry:
        """An entry from ``{"word": ..., "ipa": ..., "respelling": ...}`` (what roles store and requests send)."""
        if not isinstance(item, Mapping):
            raise ValueError("an entry is an object with word, ipa and/or respelling")
        unknown = set(item) - {"word", "ipa", "respelling"}
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(map(str, unknown)))[:80]}")
        word, ipa, respelling = item.get("word"), item.get("ipa"), item.get("respelling")
        if not isinstance(word, str) or not all(v is None or isinstance(v, str) for v in (ipa, respelling)):
            raise ValueError("word, ipa and respelling are strings")
        if isinstance(ipa, str):
            ipa = ipa.strip().strip("/")
        return cls.make(word, ipa, respelling)

    def as_json(self) -> dict[str, str]:
        out = {"word": self.key}
        if self.ipa is not None:
            out["ipa"] = self.ipa
        if self.respelling is not None:
            out["respelling"] = self.respelling
        return out

    def span(self, written: str) -> Span:
        """The span a match of this entry becomes (``written``: the text it matched)."""
        return Span(self.respelling or written, kind="lexicon", ipa=self.ipa,
                    written=written if self.respelling else None)


class Lexicon:
    """Entries by key; later entries replace earlier ones with the same key."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            self._entries.pop(entry.identity, None)
            self._entries[entry.identity] = entry
        self._by_lead: dict[str, list[Entry]] = {}
        self._unled: list[Entry] = []
        for entry in self._entries.values():
            if entry.lead:
                self._by_lead.setdefault(entry.lead, []).append(entry)
            else:
                self._unled.append(entry)
        for found in self._by_lead.values():
            found.sort(key=_preference)
        self._unled.sort(key=_preference)
        self._patterns: dict[str | None, list[re.Pattern[str]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def merged(self, *others: Lexicon | Iterable[Entry] | None) -> Lexicon:
        """This lexicon with ``others``' entries on top (server file, then a role's, then a request's)."""
        entries = self.entries
        for other in others:
            if other is not None:
                entries += other.entries if isinstance(other, Lexicon) else list(other)
        return Lexicon(entries)

    def _patterns_for(self, lead: str | None) -> list[re.Pattern[str]]:
        """Expressions for every key that starts with ``lead`` (``None``: keys that start with no letter
        or digit): one for keys with capitals, one (case-blind) for lower-case keys. Each is a trie of
        its keys, so a match costs one pass over the text whatever the number of keys sharing a lead."""
        found = self._patterns.get(lead)
        if found is None:
            entries = self._unled if lead is None else self._by_lead[lead]
            found = []
            for cased in (True, False):
                keys = [e.key for e in entries if e.cased == cased]
                if keys:
                    found.append(re.compile(r"(?<!\w)" + _trie(keys) + r"(?!\w)", 0 if cased else re.IGNORECASE))
            self._patterns[lead] = found
        return found

    def _entry(self, matched: str) -> Entry:
        """The entry a match came from: the key written that way, else the lower-case key."""
        key = " ".join(matched.split())
        return self._entries.get(key) or self._entries[key.casefold()]

    def find(self, text: str) -> list[tuple[int, int, Entry]]:
        """Non-overlapping matches ``(start, end, entry)`` in ``text``, left to right."""
        found: list[tuple[int, int]] = []
        for m in _LEAD.finditer(text):
            lead = m.group(0).casefold()
            if lead in self._by_lead:
                hits = [hit.span() for p in self._patterns_for(lead) if (hit := p.match(text, m.start()))]
                if hits:
                    found.append(max(hits, key=lambda h: h[1]))  # the longer; the key with capitals on a tie
        for pattern in self._patterns_for(None) if self._unled else ():
            at = 0  # every start, overlapping ones too: which one is kept is decided below
            while (hit := pattern.search(text, at)) is not None:
                found.append(hit.span())
                at = hit.start() + 1
        found.sort(key=lambda f: (f[0], -f[1]))
        chosen: list[tuple[int, int, Entry]] = []
        for start, end in found:
            if not chosen or start >= chosen[-1][1]:
                chosen.append((start, end, self._entry(text[start:end])))
        return chosen

    def spans(self, text: str) -> list[Span]:
        """``text`` as text spans and lexicon spans."""
        out: list[Span] = []
        at = 0
        for start, end, entry in self.find(text):
            if start > at:
                out.append(Span(text[at:start]))
            out.append(entry.span(text[start:end]))
            at = end
        if at < len(text):
            out.append(Span(text[at:]))
        return out

    def apply(self, document: Document) -> Document:
        """The document with this lexicon applied to its ``text`` spans (never inside ``<sub>``,
        ``<say-as>``, ``<phoneme>`` or an inline pronunciation)."""
        if not self._entries:
            return document
        return document.map_segments(self._apply_segment)

    def _apply_segment(self, segment: Segment) -> Segment:
        spans: list[Span] = []
        for span in segment.spans:
            spans.extend(self.spans(span.text) if span.kind == "text" else [span])
        return replace(segment, spans=tuple(spans))


def _trie(keys: Iterable[str]) -> str:
    """A regular expression matching any of ``keys`` (a space in a key: any whitespace), built as a trie:
    at each branch point the longer continuations come first, so the longest key that fits wins and
    shorter ones are tried only by backtracking."""
    root: dict[str, dict] = {}
    for key in keys:
        node = root
        for token in " ".join(key.split()):
            node = node.setdefault(token, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [(r"\s+" if token == " " else re.escape(token)) + emit(child)
                    for token, child in node.items() if token]
        ends = "" in node
        if len(branches) == 1 and not ends:
            return branches[0]
        return "(?:" + "|".join(branches) + ("|" if ends and branches else "") + ")" if branches else ""

    return emit(root)


def _preference(entry: Entry) -> tuple[int, bool]:
    """Longest key first, then a key with capitals before a lower-case one."""
    return -len(entry.key), not entry.cased


def parse_lexicon(text: str, source: str = "lexicon") -> Lexicon:
    """A lexicon from the file format; :class:`LexiconError` names the line of the first bad entry."""
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise LexiconError("expected WORD = /IPA/ respelling", line=number, source=source)
        try:
            entry = Entry.parse(key, value)
        except ValueError as exc:
            raise LexiconError(str(exc), line=number, source=source) from None
        if entry.identity in seen:
            raise LexiconError(f"'{entry.key}' is already on line {seen[entry.identity]}", line=number, source=source)
        seen[entry.identity] = number
        entries.append(entry)
        if len(entries) > MAX_ENTRIES:
            raise LexiconError(f"more than {MAX_ENTRIES} entries", line=number, source=source)
    return Lexicon(entries)


def entries_from_json(value: Sequence[object] | Mapping[str, object] | None) -> list[Entry]:
    """Entries of a request's ``pronunciations`` or a role's lexicon: a list of ``{"word", "ipa",
    "respelling"}`` objects, or an object of ``word: "/IPA/ respelling"`` (the file's value syntax).
    ``ValueError`` names the entry at fault."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        out = []
        for key, spoken in value.items():
            if not isinstance(spoken, str):
                raise ValueError(f"pronunciation of '{str(key)[:40]}' is not a string")
            try:
                out.append(Entry.parse(str(key), spoken))
            except ValueError as exc:
                raise ValueError(f"'{str(key)[:40]}': {exc}") from None
        return out
    entries = []
    for index, item in enumerate(value):
        try:
            entries.append(Entry.from_json(item))
        except ValueError as exc:
            raise ValueError(f"entry {index}: {exc}") from None
    return entries


class LexiconFile:
    """The lexicon of a file, loaded at start and reloadable: a failed reload keeps the entries in use."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self.lexicon = Lexicon()
        self.error: str | None = None
        """Why the last reload failed (the entries before it stay in use); ``None`` after a good one."""
        self.loaded_at: float | None = None
        """Wall-clock time of the last good load."""
        self.reload()

    def _read(self) -> tuple[str, tuple[int, int]]:
        try:
            stat = self.path.stat()
            if not S_ISREG(stat.st_mode):
                raise LexiconError("not a regular file", source=str(self.path))
            if stat.st_size > MAX_FILE_BYTES:
                raise LexiconError(f"the file is {stat.st_size} bytes; the limit is {MAX_FILE_BYTES}",
                                   source=str(self.path))
            return self.path.read_text(encoding="utf-8"), (stat.st_mtime_ns, stat.st_size)
        except OSError as exc:
            raise LexiconError(f"cannot read it: {exc.strerror or exc}", source=str(self.path)) from None
        except UnicodeDecodeError as exc:
            raise LexiconError(f"not UTF-8 (byte {exc.start})", source=str(self.path)) from None

    def reload(self) -> Lexicon:
        """Read the file again; :class:`LexiconError` (and the old entries kept) when it is bad."""
        with self._lock:
            text, stamp = self._read()
            self.lexicon = parse_lexicon(text, str(self.path))
            self._stamp = stamp
            self.error = None
            self.loaded_at = time.time()
            return self.lexicon

    def current(self, every: float = 1.0) -> Lexicon:
        """The entries in use, the file read again first when it changed (looked at most every ``every``
        seconds); a bad new file keeps the old entries and sets :attr:`error`."""
        now = time.monotonic()
        if now - self._checked >= every:
            self._checked = now
            if self.changed():
                try:
                    self.reload()
                except LexiconError as exc:
                    self.error = str(exc)
        return self.lexicon

    def describe(self) -> dict[str, object]:
        """What ``/server_info`` reports of it."""
        return {"file": str(self.path), "entries": len(self.lexicon), "loaded_at": self.loaded_at,
                "error": self.error}

    def changed(self) -> bool:
        """The file differs (time or size) from what was loaded."""
        try:
            stat = self.path.stat()
        except OSError:
            return True
        return (stat.st_mtime_ns, stat.st_size) != self._stamp
