"""Writing-system detection: which scripts a text is written in, and whether a voice can read them.

One pass over the text, a table lookup per character (binary search over a few dozen ranges):
linear time, no regular expressions. Used to refuse up front (a 400 naming the language) text that
a voice would only spell out as "Chinese letter, Chinese letter".
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass

# (first code point, last code point, script); sorted, non-overlapping
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "latin"), (0x0061, 0x007A, "latin"), (0x00C0, 0x024F, "latin"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0E00, 0x0E7F, "thai"),
    (0x10A0, 0x10FF, "georgian"),
    (0x1100, 0x11FF, "hangul"),
    (0x1E00, 0x1EFF, "latin"),
    (0x1F00, 0x1FFF, "greek"),
    (0x3040, 0x309F, "kana"), (0x30A0, 0x30FF, "kana"),
    (0x3130, 0x318F, "hangul"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xAC00, 0xD7AF, "hangul"),
    (0xF900, 0xFAFF, "han"),
    (0xFF21, 0xFF3A, "latin"), (0xFF41, 0xFF5A, "latin"),
    (0xFF66, 0xFF9F, "kana"),
    (0x20000, 0x2FA1F, "han"),
)
_STARTS = [r[0] for r in _RANGES]

SCRIPT_LANGUAGE: dict[str, tuple[str, str]] = {
    "han": ("zh", "Chinese"),
    "kana": ("ja", "Japanese"),
    "hangul": ("ko", "Korean"),
    "cyrillic": ("ru", "Russian"),
    "greek": ("el", "Greek"),
    "hebrew": ("he", "Hebrew"),
    "arabic": ("ar", "Arabic"),
    "devanagari": ("hi", "Hindi"),
    "bengali": ("bn", "Bengali"),
    "thai": ("th", "Thai"),
    "georgian": ("ka", "Georgian"),
    "latin": ("en", "English"),
}
"""The language a script most likely stands for (when nothing else says), with its English name."""

LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    **{code: frozenset({"latin"}) for code in
       ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "sv", "da", "no", "fi", "tr", "vi", "id", "ro", "hu")},
    "zh": frozenset({"han"}),
    "ja": frozenset({"han", "kana"}),
    "ko": frozenset({"hangul", "han"}),
    "ru": frozenset({"cyrillic"}), "uk": frozenset({"cyrillic"}), "bg": frozenset({"cyrillic"}),
    "sr": frozenset({"cyrillic", "latin"}), "kk": frozenset({"cyrillic"}),
    "el": frozenset({"greek"}), "he": frozenset({"hebrew"}), "ar": frozenset({"arabic"}), "fa": frozenset({"arabic"}),
    "hi": frozenset({"devanagari"}), "bn": frozenset({"bengali"}), "th": frozenset({"thai"}),
    "ka": frozenset({"georgian"}),
}
"""Scripts each language is written in (ISO 639-1 codes)."""

UNSPEAKABLE_SHARE = 0.25
"""Text is refused when more than this share of its letters are in scripts the voice cannot read."""


def script_of(ch: str) -> str | None:
    """The script of one character, or None for digits, punctuation, symbols and unlisted scripts."""
    cp = ord(ch)
    i = bisect.bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _RANGES[i][1]:
        return _RANGES[i][2]
    return None


def script_counts(text: str) -> Counter[str]:
    """Letters per script (one pass)."""
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isascii() and not ch.isalpha():
            continue
        script = script_of(ch)
        if script is not None:
            counts[script] += 1
    return counts


def dominant_script(text: str) -> str | None:
    """The script most of the text's letters are in (None when it has none)."""
    counts = script_counts(text)
    return counts.most_common(1)[0][0] if counts else None


def guess_language(text: str) -> str | None:
    """A language code from the script alone (kana anywhere means Japanese); None for Latin or no letters."""
    counts = script_counts(text)
    if not counts:
        return None
    if counts.get("kana"):
        return "ja"
    script = counts.most_common(1)[0][0]
    return None if script == "latin" else SCRIPT_LANGUAGE[script][0]


@dataclass(frozen=True)
class ScriptMismatch:
    """Text a voice cannot read: the script, the language it stands for, and that language's name."""

    script: str
    language: str
    language_name: str
    share: float


def unreadable_script(text: str, readable: frozenset[str]) -> ScriptMismatch | None:
    """The main script of ``text`` that ``readable`` lacks, when it makes up more than
    :data:`UNSPEAKABLE_SHARE` of the letters; None when the voice can read the text."""
    counts = script_counts(text)
    total = sum(counts.values())
    foreign = {s: n for s, n in counts.items() if s not in readable}
    if not total or not foreign or sum(foreign.values()) / total <= UNSPEAKABLE_SHARE:
        return None
    script = "kana" if "kana" in foreign else max(foreign, key=foreign.__getitem__)
    if script == "han" and "kana" in counts:
        script = "kana"
    code, name = SCRIPT_LANGUAGE[script]
    return ScriptMismatch(script, code, name, sum(foreign.values()) / total)


def readable_scripts(language_codes: list[str]) -> frozenset[str] | None:
    """Scripts a voice speaking these languages reads; None when any language is unknown here
    (then nothing is refused)."""
    scripts: set[str] = set()
    for code in language_codes:
        known = LANGUAGE_SCRIPTS.get(code)
        if known is None:
            return None
        scripts |= known
    return frozenset(scripts) if scripts else None
