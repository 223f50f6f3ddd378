"""The errors the serving layer raises for the client (message, OpenAI ``type``/``param``/``code``),
with no web framework: each edge maps them to its answer (HTTP: :mod:`flashtts.http.errors`)."""

from __future__ import annotations

from typing import Any


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


def error_type(err: APIError) -> str:
    """OpenAI's ``type`` of an error: ``server_error`` for any 5xx."""
    return "server_error" if err.status >= 500 and err.type == "invalid_request_error" else err.type
