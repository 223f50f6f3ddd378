"""Browser and client safety at the edge, before any body is read (one pure-ASGI middleware).

In order, for every HTTP request and WebSocket:

1. ``Host`` must name this server (``--allowed_hosts``; by default the loopback names and the
   bind address, any host when bound to all interfaces): a DNS-rebinding page cannot talk to a
   server on loopback under a name it controls. Refused with 400 ``invalid_host``.
2. A state-changing request (any method but GET/HEAD/OPTIONS, and every WebSocket) that a
   browser sends from another origin is refused with 403 ``cross_origin``: ``Origin`` must be
   this server's own origin or one of ``--cors_origins``; without ``Origin``, a
   ``Sec-Fetch-Site`` of ``cross-site``/``same-site`` is refused too. Clients that are not
   browsers send neither header and pass.
3. With API keys set, every route but the open ones (health, readiness, the web page and the
   API description) needs a key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), checked
   here before the body is parsed: 401 with ``WWW-Authenticate: Bearer``.
4. The request's client identity (its API key, else its address) is published for the per-client
   stream limit (:func:`current_client`).

CORS itself (preflight answers and response headers for ``--cors_origins``) is Starlette's
``CORSMiddleware``, added outside this one by :func:`flashtts.http.app.create_app`.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from flashtts.http.middleware import ASGIApp, Receive, Scope, Send, current_request_id
from flashtts.serving.plans import Caller

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/health", "/ready", "/api/health", "/", "/docs", "/redoc", "/openapi.json",
                        "/docs/oauth2-redirect", "/favicon.ico"})
"""Routes that never need an API key (the web page's static files under ``/web/`` neither)."""

_client: contextvars.ContextVar[str | None] = contextvars.ContextVar("flashtts_client", default=None)


def current_client() -> str | None:
    """Who sent the request being served: ``key:<hash>`` with an API key, else ``addr:<ip>``."""
    return _client.get()


def http_caller() -> Caller:
    """The request being served, as the serving layer takes it: its id and its client."""
    return Caller(current_request_id(), current_client())


def _host_name(value: str) -> str:
    """``example.com:8000`` -> ``example.com``; ``[::1]:80`` -> ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def host_allowed(host_header: str, allowed: Iterable[str]) -> bool:
    name = _host_name(host_header).rstrip(".")
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or name == pattern.strip("[]"):
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _same_origin(origin: str, host_header: str) -> bool:
    """``Origin`` names the host (and port, when ``Host`` has one) the request was sent to."""
    try:
        parts = urlsplit(origin)
        origin_host, origin_port = (parts.hostname or ""), parts.port
    except ValueError:
        return False
    if not origin_host:
        return False
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host_name = _host_name(host_header)
    explicit = host_header.strip().rsplit("]", 1)[-1]
    host_port = explicit.rsplit(":", 1)[1] if ":" in explicit else None
    if origin_host.lower() != host_name:
        return False
    if host_port is None:  # a proxy may drop the port: the host name decides
        return True
    return str(origin_port or default) == host_port


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers") or ():
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def presented_key(headers: dict[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer KEY``, else ``X-API-Key``."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def key_matches(given: str, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every key (timing does not tell which one matched)."""
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given.encode(), key.encode())
    return ok


class EdgeSecurityMiddleware:
    """Host allow-list, cross-origin refusal, API keys before the body, client identity."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: tuple[str, ...], cors_origins: tuple[str, ...],
                 api_keys: tuple[str, ...], open_reads: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.open_reads = open_reads
        """Paths that GET/HEAD may read without a key (``--open_listings``)."""
        self.allowed_hosts = allowed_hosts
        self.cors_origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self.api_keys = api_keys

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str, code: str, type_: str,
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
        if scope["type"] == "websocket":  # before accept: the handshake is refused with a 403
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            *(extra or [])]})
        await send({"type": "http.response.body", "body": body})

    def _open(self, path: str, method: str) -> bool:
        return (path in OPEN_PATHS or path.startswith("/web/")
                or (method in ("GET", "HEAD") and path in self.open_reads))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            log.warning("refused Host %r (allowed: %s)", host[:100], ", ".join(self.allowed_hosts))
            await self._refuse(scope, send, 400, "this server does not answer to that Host name; see --allowed_hosts",
                               "invalid_host", "invalid_request_error")
            return
        method = scope.get("method", "GET")
        if scope["type"] == "websocket" or method not in SAFE_METHODS:
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site", "").lower()
            if origin is not None:
                allowed = origin.rstrip("/").lower() in self.cors_origins or _same_origin(origin, host)
            else:
                allowed = site not in ("cross-site", "same-site")
            if not allowed:
                log.warning("refused cross-origin %s %s from %r", method, scope.get("path"), (origin or site)[:100])
                await self._refuse(scope, send, 403, "cross-origin requests are refused; allow the origin with "
                                   "--cors_origins", "cross_origin", "permission_error")
                return
        key = presented_key(headers)
        if self.api_keys and method != "OPTIONS" and not self._open(scope.get("path", ""), method):
            if key is None or not key_matches(key, self.api_keys):
                missing = key is None
                await self._refuse(scope, send, 401,
                                   "missing API key: send 'Authorization: Bearer <key>'" if missing
                                   else "invalid API key", "missing_api_key" if missing else "invalid_api_key",
                                   "authentication_error", [(b"www-authenticate", b'Bearer realm="flashtts"')])
                return
        client = scope.get("client")
        identity = f"key:{_key_hash(key)}" if (key and self.api_keys) else f"addr:{client[0] if client else '-'}"
        token = _client.set(identity)
        try:
            await self.app(scope, receive, send)
        finally:
            _client.reset(token)
