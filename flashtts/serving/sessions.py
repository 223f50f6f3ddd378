"""Open live sessions (WebSocket text-in sockets, Wyoming streams), bounded apart from admission.

A live session holds an admission slot only while it has text being synthesised (see
:class:`flashtts.serving.live.LiveSpeech`); while it waits for text it holds only a place here.
Places are limited server-wide and per client (API key, else address), the per-client limit well
below the server's, so one client cannot fill the server with idle sessions; a session with no text
for ``--live_idle_timeout`` seconds is ended by the session itself.
"""

from __future__ import annotations

from flashtts.metrics import Metrics
from flashtts.serving.admission import QueueFullError


class TooManySessionsError(QueueFullError):
    """The server, or this client, already has as many live sessions open as allowed."""

    code = "too_many_sessions"

    def __init__(self, message: str, limit: int, retry_after: int) -> None:
        super().__init__(limit, retry_after)
        self.args = (message,)


class SessionPlace:
    """One open session's place; :meth:`close` gives it back (idempotent)."""

    def __init__(self, sessions: LiveSessions, client: str | None) -> None:
        self._sessions = sessions
        self._client = client
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self._sessions._leave(self._client)


class LiveSessions:
    """Counts open live sessions; refuses past ``limit`` in all or ``per_client`` for one client (0: none).

    Runs on the event loop only, so plain integers are safe.
    """

    def __init__(self, limit: int, per_client: int, metrics: Metrics, retry_after: float = 1.0) -> None:
        self.limit = limit
        self.per_client = per_client
        self.metrics = metrics
        self.retry_after = max(1, int(round(retry_after)))
        self.open_count = 0
        self.by_client: dict[str, int] = {}

    def open(self, client: str | None) -> SessionPlace:
        """A place for a new session, or :class:`TooManySessionsError` (429)."""
        if 0 < self.limit <= self.open_count:
            self.metrics.inc("live_sessions_refused_total")
            raise TooManySessionsError(f"the server has {self.limit} live sessions open; retry in "
                                       f"{self.retry_after} s", self.limit, self.retry_after)
        if client is not None and 0 < self.per_client <= self.by_client.get(client, 0):
            self.metrics.inc("live_sessions_refused_total")
            raise TooManySessionsError(f"this client already has {self.per_client} live sessions open; close one "
                                       f"or retry in {self.retry_after} s", self.per_client, self.retry_after)
        self.open_count += 1
        if client is not None:
            self.by_client[client] = self.by_client.get(client, 0) + 1
        self.metrics.add_gauge("live_sessions", 1)
        return SessionPlace(self, client)

    def _leave(self, client: str | None) -> None:
        self.open_count -= 1
        self.metrics.add_gauge("live_sessions", -1)
        if client is not None and client in self.by_client:
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]
