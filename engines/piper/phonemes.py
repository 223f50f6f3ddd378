"""Phonemes for Piper: IPA written by people mapped to a voice's symbols, and text kept from injecting any.

Piper voices speak espeak-ng's IPA, one code point a symbol (``phoneme_id_map``). Pronunciations
from SSML ``<phoneme>``, a lexicon or ``[word](/ipa/)`` are textbook IPA or Kokoro's notation, so
a few spellings are mapped (ASCII ``g`` -> ``ɡ``, ``:`` -> ``ː``, ``'`` -> ``ˈ``, Kokoro's capital
diphthongs ``O`` -> ``oʊ``...), syllable marks are dropped, and a symbol still missing is an error
that names it (asked before a stream opens) rather than a sound dropped in silence.

piper-tts reads ``[[ raw phonemes ]]`` inside text; :func:`escaped` breaks such brackets apart so
only pronunciations the server checked become phonemes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence

SPELLINGS = {
    "g": "ɡ", ":": "ː", "'": "ˈ", "ɝ": "ɜː", "ɫ": "l", "ʦ": "ts", "ʧ": "tʃ", "ʤ": "dʒ",
    # Kokoro (misaki) shorthands for English diphthongs
    "A": "eɪ", "I": "aɪ", "O": "oʊ", "W": "aʊ", "Y": "ɔɪ", "Q": "əʊ",
}
"""Spellings people use for a symbol Piper's voices write differently."""
DROPPED = frozenset("\u0361\u035c‿|‖.-")
"""Tie bars, linking and syllable/group marks: no symbol of their own."""
SENTENCE_END = frozenset(".!?")
_BRACKETS = re.compile(r"\[(?=\[)|\](?=\])")


def escaped(text: str) -> str:
    """``text`` with ``[[`` and ``]]`` broken apart (piper-tts would read what they hold as raw phonemes)."""
    return _BRACKETS.sub(lambda m: m.group(0) + " ", text)


def ipa_symbols(ipa: str, known: Container[str]) -> list[str]:
    """``ipa`` as the voice's symbols (``known``); ``ValueError`` naming the first it cannot say.

    A ``.`` between sounds is a syllable mark (dropped); one before a space or at the end ends a
    sentence, as ``!`` and ``?`` do (phonemes given for a whole text)."""
    text = unicodedata.normalize("NFC", " ".join(ipa.split()))
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "." and text[i + 1:i + 2] in ("", " ") and ch in known:
            out.append(ch)
        elif ch in DROPPED:
            continue
        elif ch in SPELLINGS and (ch in ":'" or ch not in known):
            out.extend(SPELLINGS[ch])
        elif ch in known:
            out.append(ch)
        elif all(part in known for part in unicodedata.normalize("NFD", ch)):
            out.extend(unicodedata.normalize("NFD", ch))
        else:
            raise ValueError(f"'{ch}' (U+{ord(ch):04X}) in /{ipa[:40]}/ is not a phoneme this voice can say")
    return out


def sentences_of(symbols: Sequence[str]) -> list[list[str]]:
    """``symbols`` cut after each sentence mark (phonemes given for a whole text, spoken a sentence at a time)."""
    out: list[list[str]] = [[]]
    for ch in symbols:
        if ch == " " and not out[-1]:
            continue
        out[-1].append(ch)
        if ch in SENTENCE_END:
            out.append([])
    return [s for s in out if any(c.strip() for c in s)]


def spliced(sentences: list[list[str]], more: Sequence[Sequence[str]], leading: str = "") -> None:
    """Append ``more`` sentences to ``sentences``: ``leading`` punctuation (espeak-ng drops a text's
    leading marks) ends the last sentence first; then the first of ``more`` joins the last sentence
    when that did not end (a word said from IPA inside a sentence)."""
    if leading and sentences and sentences[-1]:
        sentences[-1].extend(leading)
    added = [list(s) for s in more if s]
    if not added:
        return
    if sentences and sentences[-1] and sentences[-1][-1] not in SENTENCE_END:
        sentences[-1].extend([" "] + added[0])
        added = added[1:]
    sentences.extend(added)


def leading_marks(text: str, known: Container[str]) -> str:
    """The punctuation ``text`` starts with (``, was there``), as far as the voice has symbols for it."""
    marks = []
    for ch in text.strip():
        if ch.isalnum():
            break
        if ch in known and ch in ",;:.!?":
            marks.append(ch)
    return "".join(marks[:1])
