"""The HTTP edge's error mapping: any exception as a status, headers and an OpenAI-style body (the one
place errors become HTTP answers), and FastAPI's validation errors said as a client can act on them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flashtts.engine import CapabilityError
from flashtts.errors import APIError, error_body
from flashtts.serving.admission import QueueFullError
from flashtts.serving.errors import to_api_error
from flashtts.voices.registry import RoleNotFoundError


def request_id_of(request: Request) -> str | None:
    """The id :class:`~flashtts.http.middleware.RequestIdMiddleware` gave the request."""
    return getattr(request.state, "request_id", None)


HTTP_ANSWERS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "invalid_request_error"),
    "not_found": (404, "not_found_error"),
    "conflict": (409, "invalid_request_error"),
    "too_large": (413, "invalid_request_error"),
    "unauthenticated": (401, "authentication_error"),
    "forbidden": (403, "permission_error"),
    "busy": (429, "rate_limit_error"),
    "timeout": (504, "timeout_error"),
    "idle_timeout": (408, "timeout_error"),
    "client_gone": (499, "invalid_request_error"),  # logged; the client is no longer there to read it
    "unavailable": (503, "server_error"),
    "storage_failed": (507, "server_error"),
    "internal": (500, "server_error"),
}
"""Each kind of :class:`~flashtts.errors.APIError` as the HTTP edge answers it: status and OpenAI ``type``."""


def http_status(err: APIError) -> int:
    return HTTP_ANSWERS[err.kind][0]


def error_type(err: APIError) -> str:
    """OpenAI's ``type`` of an error."""
    return HTTP_ANSWERS[err.kind][1]


def error_headers(err: APIError) -> dict[str, str]:
    """The error's own headers, with ``Retry-After`` when it says when to retry."""
    retry = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
    return {**err.headers, **retry}


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: text echoed from a request may hold unpaired surrogates."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def json_error(exc: BaseException, request_id: str | None = None) -> JSONResponse:
    """The HTTP answer to any exception: its status, headers and OpenAI error body."""
    err = to_api_error(exc, request_id)
    return SafeJSONResponse(error_body(err.message, error_type(err), err.param, err.code), status_code=http_status(err),
                            headers=error_headers(err))


_LOC_ROOTS = ("body", "query", "form", "path", "header", "cookie")
_TYPE_TAGS = {"str", "int", "float", "bool", "bytes", "list", "dict", "set", "tuple", "none", "json-or-python"}


def _is_union_tag(part: object) -> bool:
    """A pydantic union-member tag in an error location ('float', "literal['a','b']", 'VoiceId')."""
    if not isinstance(part, str):
        return False
    return part in _TYPE_TAGS or "[" in part or "-" in part or part[:1].isupper()


def _param(loc: tuple) -> str | None:
    parts = [p for p in loc if p not in _LOC_ROOTS]
    parts = parts[:1] + [p for p in parts[1:] if not _is_union_tag(p)]
    return ".".join(str(p) for p in parts) or None


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, str]:
    """(message, param, code) for the first field in error; a union's alternatives become one message."""
    errors = exc.errors()
    if not errors:
        return "invalid request", None, "invalid_value"
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error") or first.get("msg", "")
        return f"request body is not valid JSON: {detail}", None, "invalid_json"
    param = _param(tuple(first.get("loc", ())))
    if param is None and first.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        return "request body must be a JSON object", None, "invalid_value"
    msgs: list[str] = []
    others: set[str | None] = set()
    for err in errors:
        if _param(tuple(err.get("loc", ()))) == param:
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            if msg not in msgs:
                msgs.append(msg)
        else:
            others.add(_param(tuple(err.get("loc", ()))))
    msg = " or ".join(msgs)
    more = f" (and errors in {len(others)} more field{'s' if len(others) > 1 else ''})" if others else ""
    return (f"{param}: {msg}{more}" if param else f"{msg}{more}"), param, "invalid_value"


def install_error_handlers(app: FastAPI) -> None:
    async def _mapped(request: Request, exc: Exception) -> JSONResponse:
        return json_error(exc, request_id_of(request))

    # the domain errors and anything unexpected: the one mapping (serving.errors.to_api_error, HTTP_ANSWERS)
    for cls in (APIError, CapabilityError, RoleNotFoundError, QueueFullError, Exception):
        app.add_exception_handler(cls, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _validation_message(exc)
        return SafeJSONResponse(error_body(message, "invalid_request_error", param, code), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = "not_found_error" if exc.status_code == 404 else (
            "server_error" if exc.status_code >= 500 else "invalid_request_error")
        return SafeJSONResponse(error_body(str(exc.detail), type_, code=getattr(exc, "code", None)),
                                status_code=exc.status_code, headers=getattr(exc, "headers", None))
