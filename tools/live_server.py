"""A real ``flashtts serve`` process on loopback: the one helper tests, benchmarks and tools use.

It picks a free port on 127.0.0.1, starts ``python -m flashtts serve`` with the given options,
waits for ``/ready`` (failing with the server's log if it exits first), and stops it on exit.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_loopback(url: str) -> None:
    """Load generators send traffic to this machine only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {url}: benchmarks only target loopback addresses")


def stop_process(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Terminate ``proc`` if it still runs; kill it after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class ServerFailed(RuntimeError):
    """The server exited or did not become ready; the message holds the end of its log."""


class LiveServer:
    """``python -m flashtts serve`` on 127.0.0.1; a context manager (``start``/``stop`` also work).

    Without ``--role_dir`` among ``args`` the server gets a fresh role directory next to its log.
    """

    def __init__(self, args: list[str] | tuple[str, ...] = (), log_path: Path | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None, python: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="flashtts-live-")) if log_path is None else log_path.parent
        self.log_path = log_path or self.tmp / "server.log"
        self.args = list(args)
        if "--role_dir" not in self.args:
            self.args += ["--role_dir", str(self.tmp / f"roles-{self.port}")]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.python = python or sys.executable
        """The interpreter that runs the server (another environment's, to compare two versions)."""
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 180.0) -> LiveServer:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "flashtts", "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerFailed(f"server did not become ready in {timeout:g} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
