"""Server counters and histograms, readable as JSON (``/server_info``) and Prometheus text (``/metrics``)."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    max: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1
        self.max = max(self.max, value)

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the ``q`` quantile (the largest value seen past the last)."""
        if not self.n:
            return None
        rank, seen = q * self.n, 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            seen += count
            if seen >= rank:
                return bound
        return self.max


LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)

COUNTERS = {
    "requests_total": "Synthesis requests received",
    "requests_rejected_total": "Requests refused because the queue was full (429)",
    "requests_failed_total": "Requests that ended in an error",
    "requests_aborted_total": "Requests stopped before they finished (client gone, Stop, timeout)",
    "requests_timed_out_total": "Requests stopped by the per-request deadline",
    "audio_seconds_total": "Seconds of audio produced",
    "characters_total": "Characters of text synthesised",
    "batches_total": "Batches run by the engine",
    "batch_items_total": "Items run in those batches",
    "http_errors_total": "Requests answered with an HTTP error status (4xx/5xx, 429 included)",
    "result_cache_hits_total": "Complete-file answers served from the result cache (--result_cache_mb)",
    "runaway_segments_total": "Segments stopped at their text's frame cap without end-of-speech (runaway guard)",
    "live_sessions_refused_total": "Live sessions (WebSocket, Wyoming streams) refused by the session limits",
    "live_sessions_idle_timeout_total": "Live sessions ended because no text came for --live_idle_timeout seconds",
    "model_unloads_total": "Times the engine's weights were freed after --idle_unload idle seconds",
    "model_reloads_total": "Times the engine's weights were loaded again for a request",
    "model_reload_wait_seconds_total": "Seconds requests waited for the engine to reload (summed over requests)",
}


class Metrics:
    """Thread-safe counters shared by the server, the scheduler and the engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, float] = {k: 0 for k in COUNTERS}
        self.queue_depth = 0
        self.active_requests = 0
        self.live_sessions = 0
        self.model_loaded = 1
        self.max_batch_size = 0
        self.running_items = 0
        self.max_running_items = 0
        self.ttfa = Histogram(LATENCY_BUCKETS)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.loop_lag = Histogram(LAG_BUCKETS)

    def inc(self, name: str, value: float = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + value

    def add_gauge(self, name: str, delta: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + delta)

    def set_gauge(self, name: str, value: int) -> None:
        with self._lock:
            setattr(self, name, value)

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self.counters["batches_total"] += 1
            self.counters["batch_items_total"] += size
            self.max_batch_size = max(self.max_batch_size, size)
            self.batch_size.observe(size)

    def running(self, delta: int) -> None:
        """Items the engine started (``delta`` > 0) or finished (< 0); the peak is kept."""
        with self._lock:
            self.running_items += delta
            self.max_running_items = max(self.max_running_items, self.running_items)

    def observe_ttfa(self, seconds: float) -> None:
        with self._lock:
            self.ttfa.observe(seconds)

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            self.latency.observe(seconds)

    def observe_loop_lag(self, seconds: float) -> None:
        with self._lock:
            self.loop_lag.observe(seconds)

    def snapshot(self) -> dict:
        with self._lock:
            out: dict = dict(self.counters)
            out.update(
                queue_depth=self.queue_depth,
                active_requests=self.active_requests,
                live_sessions=self.live_sessions,
                model_loaded=self.model_loaded,
                max_batch_size=self.max_batch_size,
                running_items=self.running_items,
                max_running_items=self.max_running_items,
                mean_batch_size=(self.counters["batch_items_total"] / self.counters["batches_total"])
                if self.counters["batches_total"]
                else 0.0,
                ttfa_mean_seconds=self.ttfa.total / self.ttfa.n if self.ttfa.n else None,
                event_loop_lag_p99_seconds=self.loop_lag.quantile(0.99),
                event_loop_lag_max_seconds=self.loop_lag.max,
                event_loop_lag={"buckets": list(self.loop_lag.buckets), "counts": list(self.loop_lag.counts)},
            )
            return out

    def prometheus(self, prefix: str = "flashtts") -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name, help_ in COUNTERS.items():
                lines += [f"# HELP {prefix}_{name} {help_}", f"# TYPE {prefix}_{name} counter"]
                lines.append(f"{prefix}_{name} {self.counters[name]:g}")
            for name, value, help_ in (
                ("queue_depth", self.queue_depth, "Requests waiting for the engine"),
                ("active_requests", self.active_requests, "Requests admitted and not yet finished"),
                ("live_sessions", self.live_sessions, "Live sessions open (WebSocket text-in, Wyoming streams)"),
                ("model_loaded", self.model_loaded, "1 while the engine's weights are in memory, 0 once unloaded"),
                ("max_batch_size", self.max_batch_size, "Largest batch run so far"),
                ("running_items", self.running_items, "Items the micro-batcher's engine is running now"),
                ("max_running_items", self.max_running_items,
                 "Most items the micro-batcher's engine ran at once (batches that overlap count together)"),
            ):
                lines += [f"# HELP {prefix}_{name} {help_}", f"# TYPE {prefix}_{name} gauge",
                          f"{prefix}_{name} {value}"]
            for name, hist, help_ in (
                ("time_to_first_audio_seconds", self.ttfa, "Time from request to first audio chunk"),
                ("request_latency_seconds", self.latency, "Time from request to last audio chunk"),
                ("batch_size", self.batch_size, "Items per engine batch"),
                ("event_loop_lag_seconds", self.loop_lag, "How late the event loop woke a task that slept 0.1 s"),
            ):
                lines += [f"# HELP {prefix}_{name} {help_}", f"# TYPE {prefix}_{name} histogram"]
                cumulative = 0
                for bound, count in zip(hist.buckets, hist.counts, strict=False):
                    cumulative += count
                    lines.append(f'{prefix}_{name}_bucket{{le="{bound:g}"}} {cumulative}')
                lines.append(f'{prefix}_{name}_bucket{{le="+Inf"}} {hist.n}')
                lines.append(f"{prefix}_{name}_sum {hist.total:g}")
                lines.append(f"{prefix}_{name}_count {hist.n}")
        return "\n".join(lines) + "\n"


class ErrorCounter:
    """ASGI middleware: counts answers with an HTTP error status in ``http_errors_total``.

    Sits outside the routes, so refusals from any layer (validation, auth, admission, body
    limit, unknown path) are counted once; the metrics object is the running service's.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 200) >= 400:
                service = getattr(getattr(scope.get("app"), "state", None), "service", None)
                if service is not None:
                    service.metrics.inc("http_errors_total")
            await send(message)

        await self.app(scope, receive, counting_send)
