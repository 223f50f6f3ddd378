"""``<say-as interpret-as>``: how a piece of text is read, through the server's English normaliser.

Numbers, dates, times and money come out in words from :mod:`flashtts.text.normalize` and
:mod:`flashtts.text.numbers` (the same readings plain text gets), so SSML and plain text never say the
same thing two ways. Letter-by-letter and digit-by-digit readings work in any language; the others
in English only (elsewhere the text is left to the engine and the element listed as ignored).
"""

from __future__ import annotations

import re

from flashtts.text import normalize, numbers

INTERPRET_AS = ("characters", "spell-out", "verbatim", "cardinal", "number", "ordinal", "digits", "date", "time",
                "telephone", "currency")
"""What ``interpret-as`` accepts (``spell-out`` and ``verbatim`` mean ``characters``, ``number`` means
``cardinal``); anything else is read as written and listed as ignored."""

DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y", "m", "d")

_CARDINAL = re.compile(r"(?P<sign>[+-])?(?P<int>\d{1,3}(?:,\d{3}){1,4}|\d{1,40})(?:\.(?P<frac>\d{1,12}))?")
_ORDINAL = re.compile(r"(\d{1,15})(?:st|nd|rd|th)?\.?", re.IGNORECASE)
_DATE_PART = re.compile(r"\d{1,4}")
_DATE_SEPARATORS = re.compile(r"[-/.\s]{1,3}")
_PHONE_GROUP = re.compile(r"\d{1,20}")
_CODE_AMOUNT = re.compile(
    r"(?P<code>[A-Za-z]{3})\s?(?P<amount>[\d.,]{1,30})|(?P<amount2>[\d.,]{1,30})\s?(?P<code2>[A-Za-z]{3})")
CURRENCY_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
"""ISO 4217 codes read like their symbols (``USD 5`` as ``$5``)."""


def is_english(language: str | None) -> bool:
    """True for no language (the server's default reading) and any English tag."""
    return language is None or language.lower().split("-")[0] in ("en", "english", "auto")


def spell(text: str, english: bool = True) -> str:
    """Letter by letter (capitals) and digit by digit, each followed by a comma: ``NASA`` -> ``N, A, S, A,``.

    The commas make every letter a letter: espeak-ng reads a lone ``A`` before a word as the article
    (``ɐ``) and runs ``N.A.S.A.`` together so fast that speech recognition hears "an ASA"; with commas
    whisper tiny.en heard "N, A, S, A" in 3 of 4 syntheses (docs/design/ssml-wiring.md). Other
    characters are dropped."""
    out = []
    for ch in text:
        if ch.isdigit() and ch.isascii():
            out.append(numbers.ONES[int(ch)] if english else ch)
        elif ch.isalpha():
            out.append(ch.upper())
    return ", ".join(out) + "," if out else ""


def _cardinal(text: str) -> str | None:
    m = _CARDINAL.fullmatch(text)
    if m is None:
        return None
    integer = m.group("int").replace(",", "")
    words = numbers.decimal(integer, m.group("frac")) if m.group("frac") else numbers.cardinal(int(integer))
    return ("minus " + words) if m.group("sign") == "-" else words


def _ordinal(text: str) -> str | None:
    m = _ORDINAL.fullmatch(text)
    return numbers.ordinal(int(m.group(1))) if m else None


def _date(text: str, fmt: str | None) -> str | None:
    parts = _DATE_SEPARATORS.split(text)
    if not all(_DATE_PART.fullmatch(p) for p in parts):
        return None
    if fmt is None:
        fmt = {3: "ymd" if len(parts[0]) == 4 else "mdy", 2: "my" if len(parts[1]) == 4 else "md", 1: "y"}.get(
            len(parts), "")
    fmt = fmt.lower()
    if fmt not in DATE_FORMATS or len(fmt) != len(parts):
        return None
    value = {key: int(part) for key, part in zip(fmt, parts, strict=True)}
    year, month, day = value.get("y"), value.get("m"), value.get("d")
    if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
        return None
    if year is not None and month is not None and day is not None:
        spoken = normalize.english(f"{year:04d}-{month:02d}-{day:02d}")  # the normaliser's date reading
        return spoken if not spoken[:1].isdigit() else None
    words = []
    if month is not None:
        words.append(normalize.MONTHS[month - 1])
    if day is not None:
        words.append(numbers.ordinal(day))
    if year is not None:
        words.append(numbers.year(year))
    return " ".join(words)


def _changed(text: str) -> str | None:
    """The normaliser's English reading, when it reads something (a time, an amount) in words."""
    spoken = normalize.english(text)
    return spoken if spoken != text and not any(ch.isdigit() for ch in spoken) else None


def _currency(text: str) -> str | None:
    m = _CODE_AMOUNT.fullmatch(text)
    if m is not None:
        code = (m.group("code") or m.group("code2")).upper()
        if code in CURRENCY_CODES:
            text = CURRENCY_CODES[code] + (m.group("amount") or m.group("amount2"))
    return _changed(text)


def _telephone(text: str, english: bool) -> str | None:
    groups = _PHONE_GROUP.findall(text)
    if not groups:
        return None
    spoken = ", ".join(numbers.digits(g) if english else " ".join(g) for g in groups)
    if text.lstrip().startswith("+") and english:
        spoken = "plus " + spoken
    return spoken


def say_as(text: str, interpret_as: str, fmt: str | None = None, language: str | None = None) -> str | None:
    """``text`` read as ``interpret_as`` says, or ``None`` when it cannot be (then it is read as written)."""
    kind = interpret_as.strip().lower()
    text = " ".join(text.split())
    english = is_english(language)
    if kind in ("characters", "spell-out", "verbatim"):
        return spell(text, english) or None
    if kind == "digits":
        return (numbers.digits(text) if english else " ".join(ch for ch in text if ch.isdigit())) or None
    if kind == "telephone":
        return _telephone(text, english)
    if not english:
        return None
    if kind in ("cardinal", "number"):
        return _cardinal(text)
    if kind == "ordinal":
        return _ordinal(text)
    if kind == "date":
        return _date(text, fmt)
    if kind == "time":
        return _changed(text)
    if kind == "currency":
        return _currency(text)
    return None
