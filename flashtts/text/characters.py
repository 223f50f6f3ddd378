"""Every text a request carries is checked before any route logic sees it (HTTP:
:mod:`flashtts.http.validation`; WebSocket and Wyoming: :mod:`flashtts.serving.live`).

:func:`check_value` refuses control characters (other than tab, newline and carriage return) and unpaired
surrogates with a 400 naming the field: no engine, file name or log line ever meets them.
The search is one character-class scan per string (linear, no backtracking).
"""

from __future__ import annotations

import re
from typing import Any

from flashtts.errors import APIError

_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def bad_character(value: str) -> str | None:
    """A description of the first character no text field may hold, or None."""
    m = _BAD.search(value)
    if m is None:
        return None
    ch = m.group()
    kind = "an unpaired surrogate" if 0xD800 <= ord(ch) <= 0xDFFF else "a control character"
    return f"{kind} (U+{ord(ch):04X}) at position {m.start()}"


def check_value(value: Any, param: str) -> None:
    """Raise a 400 for the first string inside ``value`` (nested lists and objects too) that holds
    a character :func:`bad_character` refuses."""
    stack: list[tuple[Any, str]] = [(value, param)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = bad_character(item)
            if problem is not None:
                raise APIError(f"{where or 'request'}: holds {problem}", param=where or None,
                               code="invalid_characters")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and bad_character(key) is not None:
                    raise APIError(f"{where or 'request'}: a field name holds {bad_character(key)}",
                                   param=where or None, code="invalid_characters")
                stack.append((sub, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
