"""Admission control: a bounded number of requests in the server at once; beyond it, 429."""

from __future__ import annotations

import math

from flashtts.metrics import Metrics


class QueueFullError(Exception):
    """The server holds ``limit`` requests already; the client should retry after ``retry_after`` s."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"server is at capacity ({limit} requests in flight); retry in {retry_after} s")
        self.limit = limit
        self.retry_after = retry_after


class KeyLimitError(QueueFullError):
    """One client (API key, else address) already holds ``limit`` streams (``--max_streams_per_key``)."""

    code = "too_many_streams"

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(limit, retry_after)
        self.args = (f"this client already has {limit} requests open; retry in {retry_after} s",)


class Admission:
    """Counts requests between admission and the end of their synthesis; refuses past ``limit``.

    A slot is held while the request's audio is being generated (``release_slot``); a client's
    count is held until its response is fully delivered (``release_client``), so one client that
    reads slowly cannot open more than ``per_client_limit`` streams, while the server's slots go
    to whoever still needs synthesis. Runs on the event loop only, so plain integers are safe.
    """

    def __init__(self, limit: int, metrics: Metrics, per_client_limit: int = 0) -> None:
        self.limit = limit
        self.per_client_limit = per_client_limit
        self.metrics = metrics
        self.in_flight = 0
        self.by_client: dict[str, int] = {}
        self._mean_latency = 1.0

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the mean request latency, at least 1."""
        hist = self.metrics.latency
        mean = hist.total / hist.n if hist.n else self._mean_latency
        return max(1, math.ceil(mean))

    def acquire(self, client: str | None = None) -> None:
        if self.in_flight >= self.limit:
            self.metrics.inc("requests_rejected_total")
            raise QueueFullError(self.limit, self.retry_after())
        if client is not None and 0 < self.per_client_limit <= self.by_client.get(client, 0):
            self.metrics.inc("requests_rejected_total")
            raise KeyLimitError(self.per_client_limit, self.retry_after())
        self.in_flight += 1
        if client is not None:
            self.by_client[client] = self.by_client.get(client, 0) + 1
        self.metrics.add_gauge("active_requests", 1)

    def release_slot(self) -> None:
        """The request's synthesis is over (its audio may still be on its way to the client)."""
        self.in_flight -= 1
        self.metrics.add_gauge("active_requests", -1)

    def release_client(self, client: str | None) -> None:
        """The request's response is over."""
        if client is not None and client in self.by_client:
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]


class Ticket:
    """An admitted request: its synthesis slot and its client's count; each released once."""

    def __init__(self, admission: Admission, client: str | None = None) -> None:
        self._admission = admission
        self._client = client
        self._slot = True
        self._open = True

    def generated(self) -> None:
        """Synthesis is over: free the slot (the answer may still be draining to the client)."""
        if self._slot:
            self._slot = False
            self._admission.release_slot()

    def release(self) -> None:
        """The request is over: free the slot if still held and the client's count."""
        self.generated()
        if self._open:
            self._open = False
            self._admission.release_client(self._client)
