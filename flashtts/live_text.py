"""Text that arrives in pieces (an LLM's tokens) cut into speakable segments as soon as each is complete.

One left-to-right scan, each character looked at once, no regular expressions: a segment ends
at a sentence end (``.``, ``!``, ``?``, ``…`` followed by a space, or a CJK full stop), at a
line break, or, once it is ``clause_chars`` long, at a clause mark (``,`` ``;`` ``:`` dash)
followed by a space; nothing waits past ``max_chars`` (cut at the last space, else right there).
"""

from __future__ import annotations

SENTENCE_ENDS = frozenset(".!?…")
WIDE_ENDS = frozenset("。！？；")
"""Full-width ends need no space after them."""
CLOSERS = frozenset("\"')]}»”’」』）】")
CLAUSE_MARKS = frozenset(",;:—–")
WIDE_CLAUSE_MARKS = frozenset("、，：")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "e.g", "i.e", "no",
                           "fig", "approx", "inc", "ltd", "co", "mt", "gen", "col", "lt", "sgt", "capt"})


class SentenceCutter:
    """Feed text pieces in order; get back the segments each piece completed."""

    def __init__(self, clause_chars: int = 120, max_chars: int = 300) -> None:
        if not 0 < clause_chars <= max_chars:
            raise ValueError("need 0 < clause_chars <= max_chars")
        self.clause_chars = clause_chars
        self.max_chars = max_chars
        self._buf = ""
        self._pos = 0  # next character to look at
        self._after_end = False  # the last non-closer characters were a sentence end
        self._end_at = 0  # where that sentence end's terminator run began
        self._last_space = -1

    @property
    def pending(self) -> str:
        """Text received and not yet cut off."""
        return self._buf

    def feed(self, piece: str) -> list[str]:
        """Add a piece; the segments it completed, in order (stripped, never blank)."""
        self._buf += piece
        out: list[str] = []
        while self._pos < len(self._buf):
            cut = self._step(self._buf[self._pos])
            if cut is None:
                continue
            self._emit(cut, out)
        return out

    def flush(self) -> list[str]:
        """Everything still pending as a last segment (end of text, or a client's flush)."""
        out: list[str] = []
        self._emit(len(self._buf), out)
        return out

    def _step(self, ch: str) -> int | None:
        """Look at the character at ``_pos``; where to cut, if this character completes a segment."""
        i = self._pos
        self._pos += 1
        if ch in WIDE_ENDS:
            self._after_end, self._end_at = True, i
            return None
        if self._after_end and ch not in SENTENCE_ENDS and ch not in CLOSERS:
            self._after_end = False
            wide = self._buf[self._end_at] in WIDE_ENDS
            if (wide or ch.isspace()) and not self._abbreviation(self._end_at):
                return i
        if ch in SENTENCE_ENDS:
            if not self._after_end:
                self._after_end, self._end_at = True, i
            return None
        if ch == "\n":
            return i
        if ch.isspace():
            self._last_space = i
            if i >= self.clause_chars and i > 0 and self._buf[i - 1] in CLAUSE_MARKS:
                return i
        elif ch in WIDE_CLAUSE_MARKS and i >= self.clause_chars:
            return i + 1
        if i + 1 >= self.max_chars:
            return self._last_space if self._last_space > 0 else i + 1
        return None

    def _abbreviation(self, end: int) -> bool:
        """True when the terminator at ``end`` closes an abbreviation, an initial or a list number."""
        if self._buf[end] != ".":
            return False
        start = end
        while start > 0 and end - start < 8 and not self._buf[start - 1].isspace():
            start -= 1
        word = self._buf[start:end].lower().lstrip("\"'([{«“‘")
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return True
        return word.isdigit() and (start == 0 or self._buf[:start].isspace())  # "1." opening a numbered line

    def _emit(self, cut: int, out: list[str]) -> None:
        segment, self._buf = self._buf[:cut], self._buf[cut:]
        self._pos = max(self._pos - cut, 0)
        self._end_at = max(self._end_at - cut, 0)
        self._last_space = self._last_space - cut if self._last_space >= cut else -1
        if not self._buf:
            self._after_end = False
        text = segment.strip()
        if text:
            out.append(text)
