"""Any exception as the :class:`~flashtts.errors.APIError` the client sees: the domain errors of the
engine, the role store and admission mapped once, for every edge (HTTP, WebSocket, Wyoming, the CLI)."""

from __future__ import annotations

import logging

from flashtts.engine import CapabilityError
from flashtts.engine.hub import ModelNotFoundError
from flashtts.errors import APIError, ConflictError, InternalError, NotFoundError, RateLimitError, UnavailableError
from flashtts.serving.admission import QueueFullError
from flashtts.voices.registry import RoleError, RoleExistsError, RoleNotFoundError

log = logging.getLogger("flashtts.errors")


def to_api_error(exc: BaseException, request_id: str | None = None) -> APIError:
    """Map any exception to the APIError the client sees (``request_id``: the one an internal error
    names, for the client to quote and the log)."""
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
        return ConflictError(str(exc) + " (send overwrite=true to replace it)", param="name", code="role_exists")
    if isinstance(exc, ModelNotFoundError):  # a model or voice not downloaded while the Hub is out of reach
        return UnavailableError(str(exc), code="model_unavailable")
    if isinstance(exc, QueueFullError):
        return RateLimitError(str(exc), code=getattr(exc, "code", "queue_full"), retry_after=exc.retry_after)
    log.error("internal error (request %s)", request_id, exc_info=exc)
    # the details (paths, internals) go to the log only; the client gets the id to quote
    return InternalError(f"internal server error; quote request id {request_id or '-'} when reporting it",
                         code="internal_error")
