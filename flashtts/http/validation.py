"""Every text an HTTP request carries is checked before any route logic sees it: one app-wide
dependency walks the parsed JSON body, form fields, query and path parameters with
:func:`flashtts.text.characters.check_value`."""

from __future__ import annotations

import asyncio
import json

from fastapi import Request
from starlette.requests import HTTPConnection

from flashtts.text.characters import check_value

_INLINE_BYTES = 64 * 1024


def _check_json(raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: the body validation answers with its own 400
    check_value(body, "")


async def check_request_text(request: HTTPConnection) -> None:
    """FastAPI dependency (app-wide): refuse bad characters in any text the request carries.

    A WebSocket's messages are checked where they are read (:mod:`flashtts.serving.live`)."""
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
