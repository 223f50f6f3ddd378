"""Text splitting at sentence boundaries (English and Chinese) and ``<role:name>`` dialogue tags."""

from __future__ import annotations

import re
from dataclasses import dataclass

# a sentence ends after these, with any closing quotes/brackets that follow
_SENTENCE_END = re.compile(r"""(.+?(?:[.!?;…]+(?=\s|$)|[。！？；]+|\n+)["'”’)\]）」』]*)""", re.S)
_CLAUSE_END = re.compile(r"""(.+?(?:[,:]+(?=\s)|[，、：]+)["'”’)\]）」』]*)""", re.S)
_ROLE_TAG = re.compile(r"<role:([^<>]*)>")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, punctuation kept, whitespace trimmed, empty ones dropped."""
    pieces: list[str] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        pieces.append(m.group(1))
        pos = m.end()
    pieces.append(text[pos:])
    return [p.strip() for p in pieces if p.strip()]


def _split_long(sentence: str, window_size: int) -> list[str]:
    """Break a sentence longer than ``window_size`` at clause marks, then at spaces, then hard."""
    if len(sentence) <= window_size:
        return [sentence]
    out: list[str] = []
    clauses = [m.group(1) for m in _CLAUSE_END.finditer(sentence)]
    rest = sentence[sum(len(c) for c in clauses):]
    for piece in [*clauses, rest]:
        piece = piece.strip()
        while len(piece) > window_size:
            cut = piece.rfind(" ", 0, window_size + 1)
            if cut <= 0:
                cut = window_size
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
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


def parse_dialogue(text: str) -> list[DialogueTurn]:
    """Turns of a ``<role:name> text <role:other> text`` script; text before the first tag is an error."""
    matches = list(_ROLE_TAG.finditer(text))
    if not matches:
        raise ValueError("text has no <role:name> tags")
    if text[: matches[0].start()].strip():
        raise ValueError("text before the first <role:name> tag has no speaker")
    turns = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        role = m.group(1).strip()
        body = text[m.end():end].strip()
        if not role:
            raise ValueError("empty role name in <role:> tag")
        if body:
            turns.append(DialogueTurn(role, body))
    if not turns:
        raise ValueError("dialogue has no text to speak")
    return turns
