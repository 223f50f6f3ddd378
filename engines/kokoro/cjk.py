"""Japanese and Mandarin for Kokoro: misaki's readings, the ones Kokoro v1.0's voices were trained on.

Optional: the ``kokoro-cjk`` extra installs them (``pip install 'flashtts[kokoro-cjk]'``); without it
a request that needs them is refused up front, naming the extra.

* Mandarin: misaki's ``ZHG2P`` as Kokoro v1.0's own pipeline builds it (no version: jieba's words,
  pypinyin's syllables, IPA with tone arrows; numbers read by cn2an).
* Japanese: misaki's cutlet reader (what misaki's ``JAG2P`` runs by default) over fugashi (MeCab)
  with the unidic-lite dictionary, which ships inside its package. misaki's own ``ja`` extra names
  ``unidic``, whose dictionary is downloaded on first use, and ``pyopenjtalk``, whose module
  ``JAG2P`` imports although the cutlet reader never calls it: the reader is used directly.

Latin words inside such a text (``我喜欢Python``) are read by espeak-ng as English; misaki's
Mandarin reader would pass their letters through, which Kokoro's vocabulary only partly has.
Every reader runs on the engine's G2P thread (neither jieba nor MeCab is thread-safe).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from flashtts.engine import CapabilityError
from flashtts.text.languages import language_code
from flashtts.text.scripts import guess_language

from .phonemes import voice_language

EXTRA = "kokoro-cjk"
INSTALL = f"pip install 'flashtts[{EXTRA}]'"

CJK: dict[str, str] = {"ja": "Japanese", "zh": "Mandarin Chinese"}
"""Languages read through the extra -> their names."""

CJK_LANGUAGES = ("ja", "japanese", "zh", "chinese", "mandarin")
"""What a request's ``language`` may say for them (listed with or without the extra: without it, such a
request is refused naming the extra)."""

MODULES: dict[str, tuple[str, ...]] = {
    "zh": ("misaki", "jieba", "pypinyin", "cn2an", "ordered_set"),
    "ja": ("misaki", "fugashi", "unidic_lite", "jaconv", "mojimoji"),
}
"""The modules each language's reader imports."""

_LATIN = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ](?:[A-Za-zＡ-Ｚａ-ｚ'’\- ]{0,200}[A-Za-zＡ-Ｚａ-ｚ])?")
"""A run of Latin words (bounded: no backtracking blow-up on hostile text)."""
_NO_SPACE_BEFORE = frozenset(",.!?;:…—)”»")


def cjk_language(voice: str, language: str | None, text: str = "") -> str | None:
    """``ja`` or ``zh`` when the text is to be read as Japanese or Mandarin: the request's language; on
    ``auto`` the voice's prefix; for a voice without one, the text's script (kana: Japanese, else mostly
    Chinese characters: Mandarin, as the server's script detection tells). None otherwise."""
    asked = (language or "auto").strip().lower()
    if asked in ("", "auto"):
        own, _ = voice_language(voice)
        code = own if own is not None else guess_language(text)
    else:
        code = language_code(asked) or asked
    return code if code in CJK else None


def missing_modules(language: str) -> list[str]:
    """The modules of ``language``'s reader that cannot be imported here (none: the extra is installed)."""
    out = []
    for name in MODULES[language]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def unavailable(language: str) -> str | None:
    """What reading ``language`` needs that is not installed here (the extra), or None when nothing is."""
    missing = missing_modules(language)
    if not missing:
        return None
    return f"the '{EXTRA}' extra ({INSTALL}; missing here: {', '.join(missing)})"


class Reader:
    """One language's misaki reader and word splitter, loaded on first use."""

    def __init__(self, language: str, english: Callable[[str], str]) -> None:
        self.language = language
        self._english = english
        try:
            self._g2p, self._split = _load(language)
        except (ImportError, RuntimeError) as exc:  # a broken install, or MeCab without a dictionary
            raise CapabilityError(f"{CJK[language]} reader failed to load ({exc}); {INSTALL}") from exc

    def phonemes(self, text: str) -> str:
        """``text`` (a sentence) as Kokoro's phonemes: misaki's, with Latin runs read as English."""
        parts: list[str] = []
        pos = 0
        for match in _LATIN.finditer(text):
            parts.append(self._read(text[pos:match.start()]))
            parts.append(self._english(unicodedata.normalize("NFKC", match.group())))  # full-width too
            pos = match.end()
        parts.append(self._read(text[pos:]))
        out = ""
        for part in (p.strip() for p in parts):
            if part:
                out += part if not out or part[0] in _NO_SPACE_BEFORE else " " + part
        return out

    def _read(self, text: str) -> str:
        """misaki's phonemes of ``text``; where it fails (pypinyin gives a few rare characters, such as the
        unit sign 兡, readings it cannot parse), the characters one by one, leaving out those it fails on."""
        try:
            return self._g2p(text)
        except Exception:
            if len(text) <= 1:
                return ""
            return "".join(" " if ch.isspace() else self._read(ch) for ch in text)

    def words(self, text: str) -> list[str]:
        """The words of ``text`` as this language's segmenter cuts them (those with a letter or digit)."""
        return [w for w in self._split(text) if any(ch.isalnum() for ch in w)]


def _load(language: str) -> tuple[Callable[[str], str], Callable[[str], list[str]]]:
    """(phonemes of a text, words of a text) for ``language``."""
    if language == "zh":
        import jieba
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)  # it logs building its word index at DEBUG on stderr
        zh: Any = ZHG2P()
        jieba.initialize()
        return (lambda text: str(zh(text)[0])), jieba.lcut
    from fugashi import Tagger
    from misaki.cutlet import Cutlet

    cutlet: Any = Cutlet()
    tagger: Any = Tagger()
    return ((lambda text: str(cutlet(text)[0])),
            (lambda text: [str(node.surface) for node in tagger(unicodedata.normalize("NFKC", text))]))
