"""Bounds on what a document may ask for, and the errors a bad document or lexicon raises."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one SSML document (or text with inline forms) may hold; beyond it is an error, never work."""

    max_chars: int = 100_000
    """Longest document, markup included (the spoken text is bounded by the server's text limit)."""
    max_depth: int = 32
    """Deepest element nesting."""
    max_elements: int = 5_000
    """Most elements (``<break/>`` included)."""
    max_break: float = 10.0
    """Longest single pause, in seconds."""
    max_pause_total: float = 60.0
    """Most pause time in one document, in seconds."""


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 does not allow (NUL, most C0 controls, surrogates, U+FFFE/U+FFFF)."""


class MarkupError(ValueError):
    """A document or lexicon that cannot be used as it is; ``line``/``column`` (1-based) say where."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 code: str = "invalid_ssml", source: str | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.code = code
        self.source = source
        where = [p for p in (source, f"line {line}" if line is not None else None,
                             f"column {column}" if column is not None else None) if p]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class SSMLError(MarkupError):
    """An SSML document (or an inline form) the server refuses: malformed, hostile, or asking too much."""


class LexiconError(MarkupError):
    """A lexicon file or entry that cannot be loaded."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None) -> None:
        super().__init__(message, line=line, code="invalid_lexicon", source=source)


def position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of ``text[index]``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def check_characters(text: str, what: str = "input") -> None:
    """Refuse NUL, the other control characters XML forbids and lone surrogates, saying where the first is."""
    m = _FORBIDDEN.search(text)
    if m is None:
        return
    cp = ord(m.group(0))
    line, column = position(text, m.start())
    kind = "a lone surrogate" if 0xD800 <= cp <= 0xDFFF else "a character XML does not allow"
    raise SSMLError(f"{what} holds {kind} (U+{cp:04X})", line=line, column=column, code="invalid_character")
