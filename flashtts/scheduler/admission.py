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


class KeyLimitError(QueueFullError):
    """One API key already holds ``limit`` synthesis requests (``--max_streams_per_key``)."""

    code = "too_many_streams"

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(limit, retry_after)
        self.args = (f"this API key already has {limit} requests in flight; retry in {retry_after} s",)


class Admission:
    """Counts requests between admission and their last byte; refuses past ``limit``.

    Runs on the event loop only, so plain integers are safe.
    """

    def __init__(self, limit: int, metrics: Metrics, per_key_limit: int = 0) -> None:
        self.limit = limit
        self.per_key_limit = per_key_limit
        self.metrics = metrics
        self.in_flight = 0
        self.by_key: dict[str, int] = {}
        self._mean_latency = 1.0

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the mean request latency, at least 1."""
        hist = self.metrics.latency
        mean = hist.total / hist.n if hist.n else self._mean_latency
        return max(1, math.ceil(mean))

    def acquire(self, key: str | None = None) -> None:
        if self.in_flight >= self.limit:
            self.metrics.inc("requests_rejected_total")
            raise QueueFullError(self.limit, self.retry_after())
        if key is not None and self.per_key_limit > 0 and self.by_key.get(key, 0) >= self.per_key_limit:
            self.metrics.inc("requests_rejected_total")
            raise KeyLimitError(self.per_key_limit, self.retry_after())
        self.in_flight += 1
        if key is not None:
            self.by_key[key] = self.by_key.get(key, 0) + 1
        self.metrics.add_gauge("active_requests", 1)

    def release(self, key: str | None = None) -> None:
        self.in_flight -= 1
        if key is not None and key in self.by_key:
            self.by_key[key] -= 1
            if self.by_key[key] <= 0:
                del self.by_key[key]
        self.metrics.add_gauge("active_requests", -1)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
