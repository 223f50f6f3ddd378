"""The errors raised for the client, with no web framework. Each names its *kind*, never a status:
every edge maps kinds to its own answer in one table (HTTP status and OpenAI ``type``:
:data:`flashtts.http.errors.HTTP_ANSWERS`; WebSocket close code: :data:`flashtts.http.apis.stream.routes.
CLOSE_CODES`; Wyoming ``error`` event: :data:`flashtts.wyoming.server.REPORTED`), and a test checks that
every kind is mapped at every edge."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error meant for the client: its kind, message and OpenAI's ``param``/``code`` (the request is
    invalid unless a subclass says otherwise)."""

    kind = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 retry_after: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after
        """Seconds after which trying again may succeed (``busy``, ``unavailable``)."""
        self.headers = headers or {}
        """Extra HTTP headers the HTTP edge sends with it (an authentication challenge)."""


class NotFoundError(APIError):
    kind = "not_found"


class ConflictError(APIError):
    kind = "conflict"


class TooLargeError(APIError):
    kind = "too_large"


class AuthError(APIError):
    kind = "unauthenticated"


class PermissionError_(APIError):
    kind = "forbidden"


class RateLimitError(APIError):
    """The server (or this client) is at its limit: retry after ``retry_after`` seconds."""

    kind = "busy"


class TimeoutError_(APIError):
    """The request took longer than ``--request_timeout``."""

    kind = "timeout"


class IdleTimeoutError(APIError):
    """A session or connection sent nothing for too long."""

    kind = "idle_timeout"


class ClientGoneError(APIError):
    """The client went away before its answer was complete (logged, never sent)."""

    kind = "client_gone"


class UnavailableError(APIError):
    """The server cannot serve it now (shutting down, a model that cannot be fetched): retry later."""

    kind = "unavailable"


class StorageError(APIError):
    """Writing to disk failed (the role store)."""

    kind = "storage_failed"


class InternalError(APIError):
    """Anything unexpected (the details go to the log; the client gets the request id to quote)."""

    kind = "internal"


KINDS = tuple(cls.kind for cls in (APIError, NotFoundError, ConflictError, TooLargeError, AuthError, PermissionError_,
                                   RateLimitError, TimeoutError_, IdleTimeoutError, ClientGoneError, UnavailableError,
                                   StorageError, InternalError))
"""Every kind of error: each edge maps all of them."""
SERVER_FAULTS = frozenset({"timeout", "unavailable", "storage_failed", "internal"})
"""Kinds whose cause is on the server's side (logged with their traceback at the edges)."""


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
