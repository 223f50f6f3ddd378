"""Text normalisation for speech: what a reader would say, not the characters on the page.

Applied to every request unless it sends ``normalize: false``:

* Markdown markup (headings, emphasis, lists, quotes, tables, code fences, links, images, HTML
  tags) is removed and its text kept; emoji are dropped;
* URLs are read as their host (``https://www.example.com/a`` -> ``example dot com``), e-mail
  addresses as ``name at example dot com``;
* in English: currencies, percentages, dates, times, ordinals, units, years, decimals and
  numbers are written out in words (``$5.50`` -> ``five dollars and fifty cents``).

Other languages get the language-neutral steps only; their numbers are left to the engine.
Every pattern is a simple one with bounded repetition (no nested quantifiers), applied once
left to right, so the work is linear in the text's length.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flashtts.text import numbers

# ---- language-neutral ----------------------------------------------------------------------
_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2300, 0x23FF), (0x2B00, 0x2BFF), (0xFE00, 0xFE0F),
                 (0x200D, 0x200D), (0x20E3, 0x20E3), (0xE0020, 0xE007F), (0x3030, 0x3030), (0x303D, 0x303D),
                 (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x2122, 0x2122))

_FENCE = ("```", "~~~")
_HEADING = re.compile(r"#{1,6}\s+")
_BULLET = re.compile(r"(?:[-*+]|\d{1,3}[.)])\s+")
_QUOTE = re.compile(r">{1,8}\s?")
_IMAGE = re.compile(r"!\[([^\[\]\n]{0,500})\]\([^)\n]{0,2000}\)")
_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\([^)\n]{0,2000}\)")
_CODE = re.compile(r"`{1,3}([^`\n]{1,2000})`{1,3}")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>\n]{0,200})?/?>")
_STRONG = re.compile(r"\*\*|__|~~")
_EMPHASIS = re.compile(r"(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]{}\"']{1,2000}", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_MARK = re.compile(r"[ \t]{1,1000}(?=[.,!?;:])")
_TRAILING = ".,;:!?"


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return cp >= 0x00A9 and any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES)


def drop_emoji(text: str) -> str:
    """Emoji, pictographs, flags, keycaps and their joiners removed."""
    return "".join(" " if _is_emoji(ch) else ch for ch in text)


def _end_sentence(line: str) -> str:
    line = line.rstrip()
    return line if not line or line[-1] in ".!?:;," else line + "."


def _table_row(line: str) -> str | None:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(not c.strip("-: ") for c in cells):
        return None  # the |---|:---:| rule under the header
    return _end_sentence(", ".join(c for c in cells if c))


def strip_markdown(text: str) -> str:
    """Markdown markup removed, its words kept; headings, list items and table rows end as sentences."""
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith(_FENCE):
            continue
        if len(line) >= 3 and not line.strip("-*_ "):
            continue  # horizontal rule
        if line.startswith("|") and line.count("|") >= 2:
            row = _table_row(line)
            if row is not None:
                out.append(row)
            continue
        structural = False
        for pattern in (_QUOTE, _HEADING, _BULLET):
            m = pattern.match(line)
            if m:
                line = line[m.end():]
                structural = structural or pattern is not _QUOTE
        out.append(_end_sentence(line) if structural else line)
    text = "\n".join(out)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _STRONG.sub("", text)
    return _EMPHASIS.sub("", text)


LINK_WORDS = {"en": (" dot ", " at ")}
"""How a language reads the dots and the at sign of hosts and addresses; elsewhere they stay as written."""


def _speak_url(m: re.Match, dot: str) -> str:
    url = m.group(0)
    tail = ""
    while url and url[-1] in _TRAILING:
        url, tail = url[:-1], url[-1] + tail
    host = urlsplit(url if "://" in url else "http://" + url).hostname or url
    return dot.join(p for p in host.removeprefix("www.").split(".") if p) + tail


def _speak_email(m: re.Match, dot: str, at: str) -> str:
    user, _, host = m.group(0).partition("@")
    return at.join(dot.join(p for p in part.split(".") if p) for part in (user, host))


def speak_links(text: str, language: str | None = None) -> str:
    """URLs read as their host (path and query dropped), e-mail addresses as ``name at host`` in English."""
    dot, at = LINK_WORDS.get(language or "", (".", "@"))
    text = _URL.sub(lambda m: _speak_url(m, dot), text)
    return _EMAIL.sub(lambda m: _speak_email(m, dot, at), text) if language in LINK_WORDS else text


# ---- English -------------------------------------------------------------------------------
_NUM = r"\d{1,3}(?:,\d{3}){1,4}|\d{1,40}"
_SIGNED = rf"(?<![\w.])(?P<sign>-)?(?P<int>{_NUM})(?:\.(?P<frac>\d{{1,12}}))?"
_SCALE = r"(?:\s(?P<scale>thousand|million|billion|trillion))?"

CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
              "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "", ""),
              "₹": ("rupee", "rupees", "paisa", "paise")}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "kg": ("kilogram", "kilograms"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mg": ("milligram", "milligrams"), "ml": ("milliliter", "milliliters"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "kW": ("kilowatt", "kilowatts"), "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"), "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"),
    "TB": ("terabyte", "terabytes"), "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "ms": ("millisecond", "milliseconds"),
    "min": ("minute", "minutes"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"), "ft": ("foot", "feet"),
    "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"), "oz": ("ounce", "ounces"), "mi": ("mile", "miles"),
    "m": ("meter", "meters"), "g": ("gram", "grams"), "l": ("liter", "liters"), "L": ("liter", "liters"),
    "h": ("hour", "hours"), "s": ("second", "seconds"), "in": ("inch", "inches"), "W": ("watt", "watts"),
    "V": ("volt", "volts"),
}
ATTACHED_ONLY = {"m", "g", "l", "L", "h", "s", "in", "W", "V", "mi"}
"""Units that are also words or letters: read as units only when written against the number (``5m``)."""
ABBREVIATIONS = {"e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "approx.": "about"}

_UNIT_NAMES = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
_CURRENCY = re.compile(rf"(?P<sym>[$€£¥₹])\s?(?P<int>{_NUM})(?:\.(?P<frac>\d{{1,2}})(?!\d))?{_SCALE}")
_PERCENT = re.compile(rf"{_SIGNED}\s?%")
_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_US_DATE = re.compile(r"(?<![\w/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\w/])")
_TIME = re.compile(r"(?<![\w:])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s?([AaPp])\.?[Mm](?!\w))?(?![\w:])")
_ORDINAL = re.compile(r"(?<![\w.])(\d{1,15})(st|nd|rd|th)(?!\w)")
_UNIT = re.compile(rf"{_SIGNED}(?P<space>\s?)(?P<unit>{_UNIT_NAMES})(?![\w/])")
_NUMBER = re.compile(rf"{_SIGNED}(?![\w])")
_HASH_NUMBER = re.compile(r"#(?=\d)")
_ABBREVIATION = re.compile("|".join(re.escape(a) for a in ABBREVIATIONS))
_SYMBOLS = {" & ": " and ", " + ": " plus ", " = ": " equals ", " @ ": " at "}


def _amount(m: re.Match) -> tuple[str, bool]:
    """The number of a match (sign, int, frac groups) in words, and whether it is exactly one."""
    integer = int(m.group("int").replace(",", ""))
    frac = m.group("frac")
    words = numbers.decimal(str(integer), frac) if frac else numbers.cardinal(integer)
    if m.group("sign"):
        words = "minus " + words
    return words, integer == 1 and not frac and not m.group("sign")


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCIES[m.group("sym")]
    integer = int(m.group("int").replace(",", ""))
    scale = m.group("scale")
    frac = m.group("frac")
    if scale:
        amount = numbers.decimal(str(integer), frac) if frac else numbers.cardinal(integer)
        return f"{amount} {scale} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    main = f"{numbers.cardinal(integer)} {one if integer == 1 else many}"
    if not cents:
        return main
    sub = f"{numbers.cardinal(cents)} {sub_one if cents == 1 else sub_many}" if sub_one else ""
    if integer == 0 and sub:
        return sub
    return f"{main} and {sub}" if sub else main


def _percent(m: re.Match) -> str:
    return _amount(m)[0] + " percent"


def _date(year: int, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{MONTHS[month - 1]} {numbers.ordinal(day)}, {numbers.year(year)}"


def _iso_date(m: re.Match) -> str:
    return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))) or m.group(0)


def _us_date(m: re.Match) -> str:
    return _date(int(m.group(3)), int(m.group(1)), int(m.group(2))) or m.group(0)


def _time(m: re.Match) -> str:
    hour, minute, half = int(m.group(1)), int(m.group(2)), m.group(3)
    if hour > 23 or minute > 59:
        return m.group(0)
    words = numbers.cardinal(hour)
    if minute == 0:
        words += "" if half else " o'clock"
    else:
        words += " " + (f"oh {numbers.cardinal(minute)}" if minute < 10 else numbers.cardinal(minute))
    if half:
        words += " a m" if half.lower() == "a" else " p m"
    return words


def _ordinal(m: re.Match) -> str:
    return numbers.ordinal(int(m.group(1)))


def _unit(m: re.Match) -> str:
    unit = m.group("unit")
    if unit in ATTACHED_ONLY and m.group("space"):
        return _number(m) + m.group("space") + unit
    words, one = _amount(m)
    singular, plural = UNITS[unit]
    return f"{words} {singular if one else plural}"


def _number(m: re.Match) -> str:
    text = m.group("int")
    frac = m.group("frac")
    if not frac and not m.group("sign") and "," not in text:
        if len(text) > 1 and text.startswith("0"):
            return numbers.digits(text)  # codes, phone numbers: 007, 0151
        if len(text) == 4 and 1100 <= int(text) <= 2099:
            return numbers.year(int(text))
    return _amount(m)[0]


def english(text: str) -> str:
    """Currencies, percentages, dates, times, ordinals, units and numbers in English words."""
    text = _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(0)], text)
    text = _CURRENCY.sub(_currency, text)
    text = _PERCENT.sub(_percent, text)
    text = _ISO_DATE.sub(_iso_date, text)
    text = _US_DATE.sub(_us_date, text)
    text = _TIME.sub(_time, text)
    text = _ORDINAL.sub(_ordinal, text)
    text = _UNIT.sub(_unit, text)
    text = _HASH_NUMBER.sub("number ", text)
    text = _NUMBER.sub(_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    return text


LANGUAGE_RULES = {"en": english}
"""Language-specific steps by ISO 639-1 code."""


def normalize(text: str, language: str | None = None) -> str:
    """``text`` as it should be spoken; ``language`` (ISO 639-1) picks the number reading, if any."""
    text = strip_markdown(text)
    text = speak_links(text, language)
    text = drop_emoji(text)
    rules = LANGUAGE_RULES.get(language or "")
    if rules is not None:
        text = rules(text)
    lines = (_SPACE_BEFORE_MARK.sub("", _SPACES.sub(" ", line)).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
