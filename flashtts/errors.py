"""Errors and their one mapping to HTTP answers with OpenAI-style bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flashtts.engine import CapabilityError
from flashtts.hub import ModelNotFoundError
from flashtts.middleware import current_request_id
from flashtts.registry import RoleError, RoleExistsError, RoleNotFoundError
from flashtts.scheduler.admission import QueueFullError

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error meant for the client: status, message and OpenAI's ``type``/``param``/``code``."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class NotFoundError(APIError):
    status = 404
    type = "not_found_error"


class AuthError(APIError):
    status = 401
    type = "authentication_error"


class RateLimitError(APIError):
    status = 429
    type = "rate_limit_error"


class TimeoutError_(APIError):
    status = 504
    type = "timeout_error"


class PermissionError_(APIError):
    status = 403
    type = "permission_error"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def to_api_error(exc: BaseException) -> APIError:
    """Map any exception to the APIError the client sees."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, CapabilityError):
        return APIError(str(exc), code="unsupported_capability")
    if isinstance(exc, RoleNotFoundError):
        return NotFoundError(f"role '{exc.args[0] if exc.args else ''}' not found"[:200], param="name",
                             code="role_not_found")
    if isinstance(exc, RoleError):
        return APIError(str(exc), param="name", code="invalid_name")
    if isinstance(exc, RoleExistsError):
        return APIError(str(exc) + " (send overwrite=true to replace it)", param="name", status=409,
                        code="role_exists")
    if isinstance(exc, ModelNotFoundError):  # a model or voice not downloaded while the Hub is out of reach
        return APIError(str(exc), status=503, code="model_unavailable")
    if isinstance(exc, QueueFullError):
        return RateLimitError(str(exc), code=getattr(exc, "code", "queue_full"),
                              headers={"Retry-After": str(exc.retry_after)})
    request_id = current_request_id()
    log.error("internal error (request %s)", request_id, exc_info=exc)
    # the details (paths, internals) go to the log only; the client gets the id to quote
    return APIError(f"internal server error; quote request id {request_id or '-'} when reporting it",
                    status=500, code="internal_error")


def error_type(err: APIError) -> str:
    """OpenAI's ``type`` of an error: ``server_error`` for any 5xx."""
    return "server_error" if err.status >= 500 and err.type == "invalid_request_error" else err.type


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: text echoed from a request may hold unpaired surrogates."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def json_error(exc: BaseException) -> JSONResponse:
    err = to_api_error(exc)
    return SafeJSONResponse(error_body(err.message, error_type(err), err.param, err.code), status_code=err.status,
                            headers=err.headers)


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
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return json_error(exc)

    @app.exception_handler(CapabilityError)
    async def _capability(_: Request, exc: CapabilityError) -> JSONResponse:
        return json_error(exc)

    @app.exception_handler(RoleNotFoundError)
    async def _role_not_found(_: Request, exc: RoleNotFoundError) -> JSONResponse:
        return json_error(exc)

    @app.exception_handler(QueueFullError)
    async def _queue_full(_: Request, exc: QueueFullError) -> JSONResponse:
        return json_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _validation_message(exc)
        return SafeJSONResponse(error_body(message, "invalid_request_error", param, code), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = "not_found_error" if exc.status_code == 404 else (
            "server_error" if exc.status_code >= 500 else "invalid_request_error")
        return SafeJSONResponse(error_body(str(exc.detail), type_, code=getattr(exc, "code", None)),
                            status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return json_error(exc)
