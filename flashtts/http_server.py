"""Run the app under uvicorn with connection-level protection against slow clients.

uvicorn closes idle keep-alive connections (``--idle_timeout``) but waits for a request's
headers forever: a client that opens many connections and dribbles header bytes (slowloris)
holds them all. :func:`header_timeout_protocol` makes uvicorn's HTTP protocol close a
connection whose request headers are not complete within ``--header_timeout`` seconds of its
first byte (or of the connection opening).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


def _base_protocol() -> type[asyncio.Protocol]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # uvicorn without the [standard] extra
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def header_timeout_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class, closing connections whose headers take over ``timeout`` s."""
    base: Any = _base_protocol()

    class HeaderTimeoutProtocol(base):
        header_timeout = timeout

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            self._awaiting_headers = True
            self._last_cycle = None
            super().connection_made(transport)
            self._start_header_timer()

        def _start_header_timer(self) -> None:
            if self._header_timer is None and self.header_timeout > 0:
                self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                log.info("closing a connection that sent no complete request headers in %g s", self.header_timeout)
                self.transport.close()

        def _headers_done(self) -> None:
            self._awaiting_headers = False
            self._stop_header_timer()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers:
                self._start_header_timer()
            super().data_received(data)
            cycle = getattr(self, "cycle", None)  # h11: a new cycle means a request's headers arrived
            if cycle is not None and cycle is not self._last_cycle:
                self._last_cycle = cycle
                self._headers_done()

        def on_headers_complete(self) -> None:  # httptools
            self._headers_done()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._awaiting_headers = True  # the next request's headers: timed from its first byte
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _raise_open_files_limit() -> None:
    """Let the process hold as many sockets as the hard limit allows (many slow clients)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ImportError, ValueError, OSError):
        pass


def run(app: Any, *, host: str, port: int, log_level: str, header_timeout: float, idle_timeout: float) -> None:
    """Serve ``app`` with uvicorn on ``host:port`` until interrupted."""
    import uvicorn

    _raise_open_files_limit()
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5,
                            timeout_keep_alive=max(1, int(round(idle_timeout))),
                            http=header_timeout_protocol(header_timeout))
    uvicorn.Server(config).run()
