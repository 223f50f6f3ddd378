"""Every text a request carries is checked before any route logic sees it.

One app-wide dependency walks the parsed JSON body, form fields, query and path parameters and
refuses control characters (other than tab, newline and carriage return) and unpaired
surrogates with a 400 naming the field: no engine, file name or log line ever meets them.
The search is one character-class scan per string (linear, no backtracking).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

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


_INLINE_BYTES = 64 * 1024


def _check_json(raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: the body validation answers with its own 400
    check_value(body, "")


async def check_request_text(request: HTTPConnection) -> None:
    """FastAPI dependency (app-wide): refuse bad characters in any text the request carries.

    A WebSocket's messages are checked where they are read (:mod:`flashtts.live_speech`)."""
    for key, value in request.path_params.items():
        check_value(value, key)
    for key, value in request.query_params.multi_items():
        check_value(value, key)
    if not isinstance(request, Request):
        return
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        raw = await request.body()
        if len(raw) > _INLINE_BYTES:  # a large body (a base64 clip) is parsed and scanned off the loop
            await asyncio.to_thread(_check_json, raw)
        else:
            _check_json(raw)
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = getattr(request, "_form", None)  # parsed by FastAPI already; never parse twice
        if form is not None:
            for key, value in form.multi_items():
                if isinstance(value, str):
                    check_value(value, key)
