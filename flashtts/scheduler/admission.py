"""Admission control: a bounded number of requests in the server at once; beyond it, 429."""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

from flashtts.metrics import Metrics


class QueueFullError(Exception):
    """The server holds ``limit`` requests already; the client should retry after ``retry_after`` s."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"server is at capacity ({limit} requests in flight); retry in {retry_after} s")
        self.limit = limit
        self.retry_after = retry_after


class Admission:
    """Counts requests between admission and their last byte; refuses past ``limit``.

    Runs on the event loop only, so plain integers are safe.
    """

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.metrics = metrics
        self.in_flight = 0
        self._mean_latency = 1.0

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the mean request latency, at least 1."""
        hist = self.metrics.latency
        mean = hist.total / hist.n if hist.n else self._mean_latency
        return max(1, math.ceil(mean))

    def acquire(self) -> None:
        if self.in_flight >= self.limit:
            self.metrics.inc("requests_rejected_total")
            raise QueueFullError(self.limit, self.retry_after())
        self.in_flight += 1
        self.metrics.add_gauge("active_requests", 1)

    def release(self) -> None:
        self.in_flight -= 1
        self.metrics.add_gauge("active_requests", -1)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
