"""Run the app under uvicorn with connection-level protection against slow clients, and a graceful exit.

uvicorn closes idle keep-alive connections (``--idle_timeout``) but waits for a request's
headers forever: a client that opens many connections and dribbles header bytes (slowloris)
holds them all. :func:`header_timeout_protocol` makes uvicorn's HTTP protocol close a
connection whose request headers are not complete within ``--header_timeout`` seconds of its
first byte (or of the connection opening).

uvicorn's own shutdown closes the listener at once and gives streams a fixed 5 s.
:class:`GracefulServer` drains instead (:mod:`flashtts.serving.shutdown`): on SIGTERM or SIGINT the
listener stays open to answer new requests 503 (so clients and load balancers are told), work in
flight runs on for up to ``--shutdown_grace`` seconds, what is left is then cut, and the process
exits 0. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType
from typing import Any

import uvicorn

from flashtts.serving.shutdown import Drain

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


class GracefulServer(uvicorn.Server):
    """uvicorn's server, draining for up to ``drain.grace`` seconds on the first SIGTERM/SIGINT; exits 0."""

    def __init__(self, config: uvicorn.Config, drain: Drain | None) -> None:
        super().__init__(config)
        self.drain = drain
        self.signals = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # a signal handler: only flags here; on_tick (on the event loop) does the work. The signal is
        # not re-raised after shutdown (uvicorn's default), so a drained server exits 0.
        self.signals += 1
        if self.drain is None or self.drain.grace <= 0 or self.signals > 1:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        drain = self.drain
        if drain is not None and self.signals and not self.should_exit:
            if not drain.draining:
                log.info("shutting down: %d request(s) in flight get up to %g s to finish; new requests get 503",
                         drain.busy(), drain.grace)
                await drain.begin()
            busy = drain.busy()
            if busy == 0:
                log.info("shutting down: nothing left in flight")
                self.should_exit = True
            elif drain.left() <= 0:
                log.warning("shutting down: %d request(s) still in flight after %g s; aborting them", busy,
                            drain.grace)
                await drain.abort()
                self._abort_connections()
                self.should_exit = True
        return await super().on_tick(counter)

    def _abort_connections(self) -> None:
        """Cut every open HTTP/WebSocket connection: its request sees a disconnect and ends quietly."""
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()


def run(app: Any, *, host: str, port: int, log_level: str, header_timeout: float, idle_timeout: float,
        drain: Drain | None = None) -> None:
    """Serve ``app`` with uvicorn on ``host:port`` until a signal, draining ``drain`` first."""
    _raise_open_files_limit()
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5,
                            timeout_keep_alive=max(1, int(round(idle_timeout))),
                            http=header_timeout_protocol(header_timeout))
    GracefulServer(config, drain).run()
