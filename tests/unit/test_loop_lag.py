"""The event-loop lag monitor and the histogram quantile it is read with."""

from __future__ import annotations

import asyncio
import time

from flashtts.metrics import Histogram, Metrics
from flashtts.serving.loop_lag import watch_loop_lag


def test_quantile_is_the_bound_of_the_bucket_that_holds_it():
    h = Histogram((0.01, 0.1, 1.0))
    assert h.quantile(0.99) is None
    for value in [0.005] * 98 + [0.05, 3.0]:
        h.observe(value)
    assert h.quantile(0.5) == 0.01 and h.quantile(0.99) == 0.1 and h.quantile(1.0) == 3.0 and h.max == 3.0


async def test_a_call_that_holds_the_loop_shows_as_lag():
    metrics = Metrics()
    watcher = asyncio.create_task(watch_loop_lag(metrics, period=0.02))
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # noqa: ASYNC251  (the point: the loop is held)
    await asyncio.sleep(0.1)
    watcher.cancel()
    snapshot = metrics.snapshot()
    assert snapshot["event_loop_lag_max_seconds"] >= 0.2
    assert "flashtts_event_loop_lag_seconds_bucket" in metrics.prometheus()
