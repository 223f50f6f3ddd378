"""SSML attribute values: times, break strengths, prosody rate/pitch/volume, language tags.

Each reader returns the value or raises ``ValueError`` with a message for the client; the parser
adds where the attribute is. A prosody value is a factor applied to the enclosing one (nested
``<prosody>`` multiply); ``None`` means a form the server cannot act on (listed as ignored).
"""

from __future__ import annotations

import math
import re

BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.0}
"""Seconds of silence per ``<break strength>``; a ``<break/>`` with neither time nor strength is ``medium``."""

RATES = {"x-slow": 0.5, "slow": 0.64, "medium": 1.0, "fast": 1.55, "x-fast": 2.0, "default": 1.0}
"""Speed factor per ``<prosody rate>`` label (the values Azure documents): ``slow`` speaks at 0.64x,
so it lasts 1/0.64 = 1.5625 times as long."""

PITCHES = {"x-low": 0.8, "low": 0.9, "medium": 1.0, "high": 1.1, "x-high": 1.2, "default": 1.0}
"""Frequency factor per ``<prosody pitch>`` label (about -3.9, -1.8, 0, +1.7, +3.2 semitones)."""

VOLUMES_DB = {"silent": -math.inf, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "loud": 6.0, "x-loud": 12.0,
              "default": 0.0}
"""Gain in dB per ``<prosody volume>`` label."""

RATE_RANGE = (0.25, 4.0)
PITCH_RANGE = (0.5, 2.0)
MAX_GAIN_DB = 12.0

_NUMBER = r"[+-]?(?:\d{1,6}(?:\.\d{0,6})?|\.\d{1,6})"
_TIME = re.compile(rf"(?P<n>{_NUMBER})\s?(?P<unit>ms|s)", re.IGNORECASE)
_RELATIVE = re.compile(rf"(?P<n>{_NUMBER})\s?(?P<unit>%|st|dB|Hz)?", re.IGNORECASE)
MAX_VALUE = 40
"""Longest attribute value read as a time or a prosody value (anything longer is refused unread)."""


def _short(value: str) -> str:
    """``value`` without surrounding whitespace; ``ValueError`` when too long to be a value at all."""
    value = value.strip()
    if len(value) > MAX_VALUE:
        raise ValueError(f"a {len(value)}-character value; values are at most {MAX_VALUE}")
    return value
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,6}")


def seconds(value: str) -> float:
    """``700ms``, ``0.7s``, ``2 s`` -> seconds (SSML time designations; a unit is required)."""
    value = _short(value)
    m = _TIME.fullmatch(value)
    if m is None:
        raise ValueError(f"'{value[:40]}' is not a time (write it like 700ms or 1.5s)")
    n = float(m.group("n"))
    if n < 0:
        raise ValueError(f"'{value[:40]}' is a negative time")
    return n / 1000.0 if m.group("unit").lower() == "ms" else n


def strength(value: str) -> float:
    """Seconds of a ``<break strength>``."""
    key = value.strip().lower()
    if key not in BREAK_STRENGTHS:
        raise ValueError(f"'{value[:40]}' is not a break strength ({', '.join(BREAK_STRENGTHS)})")
    return BREAK_STRENGTHS[key]


def _relative(value: str, labels: dict[str, float], what: str, units: tuple[str, ...]) -> tuple[float, str]:
    """(number, unit) of a relative value, or (label value, 'label')."""
    value = _short(value)
    key = value.lower()
    if key in labels:
        return labels[key], "label"
    m = _RELATIVE.fullmatch(value)
    if m is None:
        raise ValueError(f"'{value[:40]}' is not a {what} ({', '.join(k for k in labels if k != 'default')}, "
                         f"or a number with {', '.join(units)})")
    unit = (m.group("unit") or "").lower()
    return float(m.group("n")), unit


def _percent(value: str, n: float) -> float:
    """``+20%`` -> 1.2 and ``-20%`` -> 0.8 (a change); ``80%`` -> 0.8 (a share of the default)."""
    return 1.0 + n / 100.0 if value.strip()[0] in "+-" else n / 100.0


def rate(value: str) -> float:
    """Speed factor of ``<prosody rate>``: a label, a percentage (``80%`` or ``+20%``) or a factor (``1.5``)."""
    n, unit = _relative(value, RATES, "rate", ("%",))
    if unit == "%":
        n = _percent(value, n)
    elif unit not in ("", "label"):
        raise ValueError(f"a prosody rate is a label, a percentage or a factor, not '{value[:40]}'")
    if n <= 0:
        raise ValueError(f"prosody rate '{value[:40]}' is not a positive speed")
    return n


def pitch(value: str) -> float | None:
    """Frequency factor of ``<prosody pitch>``: a label, ``+2st``, ``-10%``; ``None`` for Hz (no base pitch
    known, so ignored)."""
    n, unit = _relative(value, PITCHES, "pitch", ("st", "%"))
    if unit == "st":
        return float(2.0 ** (n / 12.0))
    if unit == "%":
        return _percent(value, n)
    if unit == "hz":
        return None
    if unit == "":
        raise ValueError(f"a prosody pitch needs a unit (st or %), not '{value[:40]}'")
    return n


def volume(value: str) -> float:
    """Amplitude factor of ``<prosody volume>``: a label, ``+6dB``, ``-3dB`` or a percentage (``50%``)."""
    n, unit = _relative(value, VOLUMES_DB, "volume", ("dB", "%"))
    if unit in ("label", "db"):
        return 0.0 if n == -math.inf else float(10.0 ** (n / 20.0))
    if unit == "%":
        return _percent(value, n)
    raise ValueError(f"a prosody volume is a label, a dB change or a percentage, not '{value[:40]}'")


def language(value: str) -> str:
    """A BCP 47 language tag as written (``en-US``, ``fr``)."""
    tag = value.strip()
    if not _LANGUAGE.fullmatch(tag):
        raise ValueError(f"'{value[:40]}' is not a language tag (like en-US or fr)")
    return tag


def check_range(name: str, factor: float, low: float, high: float) -> None:
    if not low <= factor <= high:
        raise ValueError(f"{name} comes to {factor:.3g}x, outside {low:g}-{high:g}x")
