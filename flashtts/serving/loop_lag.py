"""How late the event loop runs: a task that asks to wake every ``period`` seconds records how late
it woke (``event_loop_lag_seconds`` in ``/metrics``; p99 and max in ``/server_info``). Work that
holds the loop (a blocking call, a long computation) shows here before it shows anywhere else."""

from __future__ import annotations

import asyncio

from flashtts.metrics import Metrics

PERIOD = 0.1
"""Seconds between two looks at the loop."""


async def watch_loop_lag(metrics: Metrics, period: float = PERIOD) -> None:
    """Run until cancelled, observing each wake-up's delay."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(period)
        metrics.observe_loop_lag(max(0.0, loop.time() - asked - period))
