"""What a pronunciation written in IPA may hold (SSML ``<phoneme ph>``, lexicon entries, inline forms)."""

from __future__ import annotations

import unicodedata

MAX_IPA = 200
"""Longest pronunciation, in characters."""

_EXTRA = frozenset(" .‿|‖-'ˈˌːˑ")
"""Besides letters, combining marks and modifier letters: syllable and group marks, stress and length."""


def check_ipa(ipa: str) -> str:
    """``ipa`` trimmed, or ``ValueError`` saying what is wrong: empty, too long, or a character that is
    not a letter, a combining mark, a modifier or a prosodic mark (digits, slashes, brackets, controls)."""
    text = " ".join(ipa.split())
    if not text:
        raise ValueError("the pronunciation is empty")
    if len(text) > MAX_IPA:
        raise ValueError(f"the pronunciation is {len(text)} characters; the limit is {MAX_IPA}")
    for ch in text:
        if ch in _EXTRA:
            continue
        category = unicodedata.category(ch)
        if category[0] not in "LM" and category != "Sk":
            raise ValueError(f"the pronunciation /{text[:40]}/ holds '{ch}' (U+{ord(ch):04X}), which is not IPA")
    return text
