"""Shared helpers of the benchmarks: a ``flashtts serve`` process on loopback only
(:class:`flashtts.live_server.LiveServer`, the same helper the tests use)."""

from __future__ import annotations

from pathlib import Path

from flashtts.live_server import LiveServer, free_port, require_loopback  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent


class Server(LiveServer):
    """``python -m flashtts serve`` on 127.0.0.1 with its own role directory and a quiet log."""

    def __init__(self, *args: str, log_path: Path | None = None) -> None:
        super().__init__(args, log_path, env={"FLASHTTS_LOG_LEVEL": "warning"}, cwd=ROOT)
