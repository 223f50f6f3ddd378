"""Text into speakable segments: ONE sentence cutter for every path, and ``<role:name>`` dialogue tags.

:class:`SentenceCutter` holds the rules. It takes text in pieces (an LLM's tokens on the WebSocket and
Wyoming) or all at once (:func:`split_sentences`, :func:`split_text` for HTTP requests), so the same
text is cut at the same places whichever way it arrives:

* a sentence ends at ``.`` ``!`` ``?`` ``…`` (a run of them, with closing quotes and brackets) followed
  by whitespace, or at a full-width ``。`` ``！`` ``？`` ``；`` wherever it is, or at a line break;
* not after an abbreviation (``Dr.``, ``e.g.``), an initial (``J.``) or a list number opening a line
  (``1.``), nor inside a number (``3.14``);
* ``;`` ``,`` ``:`` and dashes are clause marks, not sentence ends: a segment ends there (before a
  space; full-width ``，`` ``、`` ``：`` anywhere) only once it is ``clause_chars`` long;
* no segment grows past ``max_chars`` (cut at its last space, else right there).

Every function scans left to right and looks at each character once, with no regular expression that
can backtrack: the cost is linear in the length of the text whatever it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTENCE_ENDS = frozenset(".!?…")
"""End a sentence when the run of them (and its closers) is followed by whitespace."""
WIDE_ENDS = frozenset("。！？；")
"""Full-width ends need no space after them."""
CLOSERS = frozenset("\"')]}»”’」』）】")
"""Closing quotes and brackets stay with the sentence they close."""
CLAUSE_MARKS = frozenset(",;:—–")
WIDE_CLAUSE_MARKS = frozenset("、，：")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "e.g", "i.e", "no",
                           "fig", "approx", "inc", "ltd", "co", "mt", "gen", "col", "lt", "sgt", "capt"})
_OPENERS = "\"'([{«“‘"
_ROLE_OPEN = "<role:"


class SentenceCutter:
    """Feed text pieces in order; get back the segments each piece completed.

    ``clause_chars`` / ``max_chars`` of ``None`` switch the clause cut / the length cut off (whole
    sentences only).
    """

    def __init__(self, clause_chars: int | None = 120, max_chars: int | None = 300) -> None:
        if clause_chars is not None and max_chars is not None and not 0 < clause_chars <= max_chars:
            raise ValueError("need 0 < clause_chars <= max_chars")
        if (clause_chars is not None and clause_chars <= 0) or (max_chars is not None and max_chars <= 0):
            raise ValueError("clause_chars and max_chars must be positive")
        self.clause_chars = clause_chars
        self.max_chars = max_chars
        self._buf = ""
        self._start = 0  # where the pending segment begins in _buf
        self._pos = 0  # next character to look at
        self._after_end = False  # the last non-closer characters were a sentence end
        self._end_at = 0  # where that sentence end's terminator run began
        self._last_space = -1

    @property
    def pending(self) -> str:
        """Text received and not yet cut off."""
        return self._buf[self._start:]

    def feed(self, piece: str) -> list[str]:
        """Add a piece; the segments it completed, in order (stripped, never blank)."""
        self._compact()
        self._buf += piece
        out: list[str] = []
        while self._pos < len(self._buf):
            cut = self._step(self._buf[self._pos])
            if cut is not None:
                self._emit(cut, out)
        return out

    def flush(self) -> list[str]:
        """Everything still pending as a last segment (end of text, or a client's flush)."""
        out: list[str] = []
        self._emit(len(self._buf), out)
        self._compact()
        return out

    def _compact(self) -> None:
        """Drop the text already cut off (once per piece, so cutting stays linear)."""
        cut = self._start
        if cut:
            self._buf = self._buf[cut:]
            self._start = 0
            self._pos -= cut
            self._end_at = max(self._end_at - cut, 0)
            self._last_space = self._last_space - cut if self._last_space >= cut else -1

    def _step(self, ch: str) -> int | None:
        """Look at the character at ``_pos``; where to cut, if this character completes a segment."""
        i = self._pos
        self._pos += 1
        length = i - self._start  # of the pending segment before this character
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
        clause = self.clause_chars is not None and length >= self.clause_chars
        if ch.isspace():
            self._last_space = i
            if clause and length > 0 and self._buf[i - 1] in CLAUSE_MARKS:
                return i
        elif ch in WIDE_CLAUSE_MARKS and clause:
            return i + 1
        if self.max_chars is not None and length + 1 >= self.max_chars:
            return self._last_space if self._last_space > self._start else i + 1
        return None

    def _abbreviation(self, end: int) -> bool:
        """True when the terminator at ``end`` closes an abbreviation, an initial or a list number."""
        if self._buf[end] != ".":
            return False
        start = end
        while start > self._start and end - start < 8 and not self._buf[start - 1].isspace():
            start -= 1
        word = self._buf[start:end].lower().lstrip(_OPENERS)
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return True
        opens_line = start == self._start or self._buf[self._start:start].isspace()
        return word.isdigit() and opens_line  # "1." opening a numbered line

    def _emit(self, cut: int, out: list[str]) -> None:
        segment = self._buf[self._start:cut]
        self._start = cut
        if self._pos < cut:
            self._pos = cut
        if self._last_space < cut:
            self._last_space = -1
        self._end_at = max(self._end_at, cut)
        if self._start >= len(self._buf):
            self._after_end = False
        text = segment.strip()
        if text:
            out.append(text)


def cut(text: str, clause_chars: int | None = None, max_chars: int | None = None) -> list[str]:
    """All of ``text`` through one :class:`SentenceCutter`: its segments, in order."""
    cutter = SentenceCutter(clause_chars, max_chars)
    return cutter.feed(text) + cutter.flush()


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, punctuation kept, whitespace trimmed, empty ones dropped."""
    return cut(text)


def split_text(text: str, length_threshold: int = 50, window_size: int = 50) -> list[str]:
    """Segments to synthesise one after another.

    A text up to ``length_threshold`` characters is one segment; a longer one is cut into sentences,
    and sentences are packed into segments of about ``window_size`` characters (a single sentence
    longer than that is cut at clause marks, then spaces: the cutter's own clause and length cuts).
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= length_threshold:
        return [text]
    segments: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        pieces = [sentence] if len(sentence) <= window_size else cut(sentence, 1, window_size)
        for piece in pieces:
            joiner = "" if _is_cjk(current[-1:]) or _is_cjk(piece[:1]) else " "
            if current and len(current) + len(joiner) + len(piece) <= window_size:
                current = current + joiner + piece
            else:
                if current:
                    segments.append(current)
                current = piece
    if current:
        segments.append(current)
    return segments


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")


@dataclass(frozen=True)
class DialogueTurn:
    role: str
    text: str


def _role_tags(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of each ``<role:name>`` tag; a name holds no ``<`` or ``>``."""
    tags: list[tuple[int, int, str]] = []
    pos = 0
    while True:
        start = text.find(_ROLE_OPEN, pos)
        if start < 0:
            return tags
        j = start + len(_ROLE_OPEN)
        while j < len(text) and text[j] not in "<>":
            j += 1
        if j < len(text) and text[j] == ">":
            tags.append((start, j + 1, text[start + len(_ROLE_OPEN):j]))
            pos = j + 1
        else:
            pos = j


def parse_dialogue(text: str) -> list[DialogueTurn]:
    """Turns of a ``<role:name> text <role:other> text`` script; text before the first tag is an error."""
    tags = _role_tags(text)
    if not tags:
        raise ValueError("text has no <role:name> tags")
    if text[: tags[0][0]].strip():
        raise ValueError("text before the first <role:name> tag has no speaker")
    turns = []
    for i, (_, tag_end, name) in enumerate(tags):
        end = tags[i + 1][0] if i + 1 < len(tags) else len(text)
        role = name.strip()
        body = text[tag_end:end].strip()
        if not role:
            raise ValueError("empty role name in <role:> tag")
        if body:
            turns.append(DialogueTurn(role, body))
    if not turns:
        raise ValueError("dialogue has no text to speak")
    return turns
