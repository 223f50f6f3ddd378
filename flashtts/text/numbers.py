"""English number words: cardinals, ordinals, years, decimals and digit strings."""

from __future__ import annotations

ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ("", "thousand", "million", "billion", "trillion")
ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                 "nine": "ninth", "twelve": "twelfth"}

MAX_CARDINAL = 10**15 - 1
"""Beyond this, numbers are read digit by digit."""


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(TENS[tens] + (f"-{ONES[ones]}" if ones else ""))
    elif rest or not words:
        words.append(ONES[rest])
    return words


def cardinal(n: int) -> str:
    """``1234`` -> ``one thousand two hundred thirty-four``; negatives say ``minus``."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return digits(str(n))
    if n == 0:
        return "zero"
    groups: list[str] = []
    scale = 0
    while n:
        n, part = divmod(n, 1000)
        if part:
            groups.insert(0, " ".join(_below_thousand(part) + ([SCALES[scale]] if scale else [])))
        scale += 1
    return " ".join(groups)


def ordinal(n: int) -> str:
    """``21`` -> ``twenty-first``."""
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    stem, dash, unit = last.rpartition("-")
    word = unit if dash else last
    if word in ORDINAL_WORDS:
        word = ORDINAL_WORDS[word]
    elif word.endswith("y"):
        word = word[:-1] + "ieth"
    else:
        word += "th"
    last = f"{stem}-{word}" if dash else word
    return f"{head}{sep}{last}"


def year(n: int) -> str:
    """``1999`` -> ``nineteen ninety-nine``, ``2005`` -> ``two thousand five``, ``2024`` -> ``twenty twenty-four``."""
    if n % 1000 < 10 or not 1000 <= n <= 9999:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + ONES[low] if low < 10 else cardinal(low)}"


def digits(text: str) -> str:
    """Each digit as a word (phone numbers, codes, very long numbers)."""
    return " ".join(ONES[int(ch)] for ch in text if ch.isdigit())


def decimal(integer: str, fraction: str) -> str:
    """``3``, ``14`` -> ``three point one four``."""
    return f"{cardinal(int(integer))} point {digits(fraction)}"
