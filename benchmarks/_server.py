"""Shared helpers of the robustness benchmarks: a ``flashtts serve`` process on loopback only."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent


def require_loopback(url: str) -> None:
    """Benchmarks send traffic to this machine only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {url}: benchmarks only target loopback addresses")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m flashtts serve`` on 127.0.0.1 with its own role directory and log."""

    def __init__(self, *args: str, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="flashtts-bench-"))
        self.log_path = log_path or self.tmp / "server.log"
        self.args = ["--role_dir", str(self.tmp / "roles"), *args]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self._log = open(self.log_path, "ab")
        env = {**os.environ, "FLASHTTS_LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen([sys.executable, "-m", "flashtts", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port), *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise SystemExit("server did not become ready")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
