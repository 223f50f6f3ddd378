"""Text splitting at sentence boundaries (English and Chinese) and ``<role:name>`` dialogue tags.

Every function here scans the text once, left to right, with no regular expression that can
backtrack: the cost is linear in the length of the text whatever it holds (a request of
thousands of dots or commas is split as fast as prose).
"""

from __future__ import annotations

from dataclasses import dataclass

_ASCII_ENDS = frozenset(".!?;…")
"""End a sentence when followed by whitespace or the end of the text."""
_CJK_ENDS = frozenset("。！？；")
"""End a sentence wherever they are."""
_ASCII_CLAUSE = frozenset(",:")
_CJK_CLAUSE = frozenset("，、：")
_CLOSERS = frozenset("\"'”’)]）」』")
"""Closing quotes and brackets stay with the sentence they close."""
_ROLE_OPEN = "<role:"


def _cut_points(text: str, ascii_marks: frozenset[str], cjk_marks: frozenset[str], newline: bool) -> list[int]:
    """End offsets of the pieces of ``text``: after a run of marks (ASCII ones only before
    whitespace or the end), the closers that follow it; newlines end a piece when ``newline``."""
    cuts: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in ascii_marks or ch in cjk_marks or (newline and ch == "\n"):
            j = i
            if ch == "\n":
                while j < n and text[j] == "\n":
                    j += 1
            else:
                has_cjk = False
                while j < n and (text[j] in ascii_marks or text[j] in cjk_marks):
                    has_cjk = has_cjk or text[j] in cjk_marks
                    j += 1
                k = j
                while k < n and text[k] in _CLOSERS:
                    k += 1
                if not has_cjk and k < n and not text[k].isspace():
                    i = j  # "3.14", "e.g.x": not an end
                    continue
                j = k
            if j > 0 and (not cuts or cuts[-1] < j):
                cuts.append(j)
            i = j
        else:
            i += 1
    return cuts


def _pieces(text: str, cuts: list[int]) -> list[str]:
    out: list[str] = []
    start = 0
    for end in [*cuts, len(text)]:
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, punctuation kept, whitespace trimmed, empty ones dropped."""
    return _pieces(text, _cut_points(text, _ASCII_ENDS, _CJK_ENDS, newline=True))


def _split_long(sentence: str, window_size: int) -> list[str]:
    """Break a sentence longer than ``window_size`` at clause marks, then at spaces, then hard."""
    if len(sentence) <= window_size:
        return [sentence]
    out: list[str] = []
    for piece in _pieces(sentence, _cut_points(sentence, _ASCII_CLAUSE, _CJK_CLAUSE, newline=False)):
        out.extend(_wrap(piece, window_size))
    return out


def _wrap(piece: str, window_size: int) -> list[str]:
    """``piece`` in parts of at most ``window_size`` characters, cut at the last space that fits."""
    out: list[str] = []
    start, n = 0, len(piece)
    last_space = -1  # last space seen in piece[start:i]
    i = start
    while n - start > window_size:
        limit = start + window_size
        while i <= limit and i < n:
            if piece[i] == " ":
                last_space = i
            i += 1
        cut = last_space if last_space > start else limit
        part = piece[start:cut].strip()
        if part:
            out.append(part)
        start = cut
        while start < n and piece[start] == " ":
            start += 1
        if i < start:
            i = start
        if last_space < start:
            last_space = -1
    rest = piece[start:].strip()
    if rest:
        out.append(rest)
    return out


def split_text(text: str, length_threshold: int = 50, window_size: int = 50) -> list[str]:
    """Segments to synthesise one after another.

    A text up to ``length_threshold`` characters is one segment; a longer one is cut at
    sentence ends, and sentences are packed into segments of about ``window_size`` characters
    (a single sentence longer than that is cut at commas, then spaces).
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= length_threshold:
        return [text]
    segments: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        for piece in _split_long(sentence, window_size):
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
