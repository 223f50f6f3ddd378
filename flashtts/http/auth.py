"""API keys: ``Authorization: Bearer <key>`` (or ``X-API-Key``), several keys allowed.

The check itself runs at the edge (:class:`flashtts.http.security.EdgeSecurityMiddleware`, before a
body is read); this dependency repeats it on the routers so a route mounted elsewhere stays closed.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from flashtts.errors import AuthError
from flashtts.http.security import key_matches
from flashtts.http.security import presented_key as _presented

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="flashtts"'}


def presented_key(request: HTTPConnection) -> str | None:
    """The key the request presents (checked by :func:`require_api_key`), if any."""
    return _presented({k.lower(): v for k, v in request.headers.items()})


async def require_api_key(request: HTTPConnection) -> None:
    """FastAPI dependency: passes when no keys are configured or a configured key is presented."""
    keys: tuple[str, ...] = request.app.state.config.api_keys
    if not keys:
        return
    token = presented_key(request)
    if token is None:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key",
                        headers=CHALLENGE)
    if not key_matches(token, keys):
        raise AuthError("invalid API key", code="invalid_api_key", headers=CHALLENGE)
