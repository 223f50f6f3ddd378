"""Hostile SSML documents and the error code each must get (unit tests, server tests, the benchmark).

Import with ``from hostile_ssml import HOSTILE`` (``tests/`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

_LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
_QUADRATIC = "x" * 50_000

HOSTILE: dict[str, tuple[str, str]] = {
    "entity expansion (billion laughs)": (
        f'<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY lol0 "lol">{_LAUGHS}]><speak>&lol9;</speak>',
        "ssml_dtd_refused"),
    "quadratic blow-up": (
        f'<!DOCTYPE speak [<!ENTITY a "{_QUADRATIC}">]><speak>{"&a;" * 1000}</speak>', "ssml_dtd_refused"),
    "external entity": (
        '<!DOCTYPE speak [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><speak>&xxe;</speak>', "ssml_dtd_refused"),
    "external DTD": ('<!DOCTYPE speak SYSTEM "http://127.0.0.1:9/evil.dtd"><speak>hi</speak>', "ssml_dtd_refused"),
    "parameter entity": (
        '<!DOCTYPE speak [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><speak>hi</speak>', "ssml_dtd_refused"),
    "DOCTYPE alone": ("<!DOCTYPE speak><speak>hi</speak>", "ssml_dtd_refused"),
    "undeclared entity": ("<speak>&xxe;</speak>", "ssml_malformed"),
    "10,000 nested elements": ("<speak>" + "<s>" * 10_000 + "deep" + "</s>" * 10_000 + "</speak>", "ssml_too_deep"),
    "100,000 breaks": ("<speak>" + "<break/>" * 100_000 + "</speak>", "input_too_long"),
    "10,000 breaks (under the size limit)": ("<speak>" + "<break/>" * 10_000 + "</speak>", "ssml_too_many_elements"),
    "a 10 hour break": ('<speak>a <break time="10h"/> b</speak>', "invalid_ssml"),
    "a 36000 s break": ('<speak>a <break time="36000s"/> b</speak>', "ssml_break_too_long"),
    "breaks adding up": ("<speak>" + '<break time="9s"/>' * 20 + "</speak>", "ssml_break_too_long"),
    "unclosed tags": ("<speak><s>hello <prosody rate='slow'>world</speak>", "ssml_malformed"),
    "unclosed document": ("<speak>hello", "ssml_malformed"),
    "NUL in an attribute": ('<speak><voice name="a\x00b">hi</voice></speak>', "invalid_character"),
    "lone surrogate in an attribute": ('<speak><voice name="a\ud800b">hi</voice></speak>', "invalid_character"),
    "NUL as a character reference": ('<speak><voice name="a&#0;b">hi</voice></speak>', "ssml_malformed"),
    "surrogate as a character reference": ('<speak><sub alias="&#xDC00;">x</sub></speak>', "ssml_malformed"),
    "attribute value of 90,000 spaces": (f'<speak><prosody rate="5{" " * 90_000}x">a</prosody></speak>',
                                         "invalid_ssml"),
    "huge document": ("<speak>" + "word " * 40_000 + "</speak>", "input_too_long"),
}
"""Name -> (document, the ``SSMLError.code`` it must be refused with under the default limits)."""
