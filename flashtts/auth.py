"""API keys: ``Authorization: Bearer <key>``, several keys allowed, constant-time comparison."""

from __future__ import annotations

import hmac

from fastapi import Request

from flashtts.errors import AuthError


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def presented_key(request: Request) -> str | None:
    """The key the request presents (checked by :func:`require_api_key`), if any."""
    return _bearer(request)


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: passes when no keys are configured or a configured key is presented."""
    keys: tuple[str, ...] = request.app.state.config.api_keys
    if not keys:
        return
    token = _bearer(request)
    if token is None:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    given = token.encode()
    ok = False
    for key in keys:  # compare against every key so timing does not reveal which one matched
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise AuthError("invalid API key", code="invalid_api_key")
