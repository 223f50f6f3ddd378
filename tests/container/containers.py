"""Containers of the image under test, driven with podman (or docker) from the host (see conftest.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid

import httpx

from support import free_port

IMAGE = os.environ.get("FLASHTTS_TEST_IMAGE", "")
CLI = shlex.split(os.environ.get("FLASHTTS_TEST_CONTAINER", "podman"))
RUN_FLAGS = shlex.split(os.environ.get("FLASHTTS_TEST_RUN_FLAGS", ""))

FIGURES: dict[str, str] = {}
"""Measurements printed at the end of the run (image size, start times, stop time)."""


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """``podman ARGS`` (or docker): its output as text; a failure raises with both streams."""
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args[:2])} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def unique(prefix: str) -> str:
    return f"flashtts-test-{prefix}-{uuid.uuid4().hex[:8]}"


class Container:
    """One container of the image: HTTP and Wyoming published on free loopback ports, ``/data`` on ``volume``."""

    def __init__(self, volume: str, env: dict[str, str] | None = None) -> None:
        self.name = unique("server")
        self.volume = volume
        self.env = env or {}
        self.http_port = free_port()
        self.wyoming_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 180) -> float:
        """Run it and wait for its first speech answer; the seconds from ``run`` to that answer."""
        env = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        started = time.monotonic()
        cli("run", "-d", "--name", self.name, *RUN_FLAGS, "-p", f"127.0.0.1:{self.http_port}:8000",
            "-p", f"127.0.0.1:{self.wyoming_port}:10200", "-v", f"{self.volume}:/data", *env, IMAGE)
        deadline = started + timeout
        checked = started
        while True:
            try:
                r = httpx.post(self.url + "/v1/audio/speech", timeout=30,
                               json={"model": "tts-1", "voice": "alloy", "input": "Ready.", "response_format": "wav"})
                if r.status_code == 200:
                    return time.monotonic() - started
                if r.status_code != 503:  # 503: the engine is still loading
                    raise AssertionError(f"{r.status_code} from {self.name}: {r.text}\n{self.logs()}")
            except httpx.TransportError:
                pass
            if time.monotonic() - checked > 2:  # a container that exited will never answer
                checked = time.monotonic()
                state = self.state()
                if state not in ("running", "created", "configured", "initialized", "unknown"):
                    raise AssertionError(f"container {self.name} is {state}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no speech from {self.name} within {timeout} s:\n{self.logs()}")
            time.sleep(0.1)

    def state(self) -> str:
        """running, exited, ...; unknown when podman does not answer in time (seen once on a machine with load 30)."""
        try:
            return cli("inspect", self.name, "--format", "{{.State.Status}}", check=False, timeout=30).stdout.strip()
        except subprocess.TimeoutExpired:
            return "unknown"

    def logs(self) -> str:
        try:
            r = cli("logs", self.name, check=False, timeout=60)
        except subprocess.TimeoutExpired:
            return f"(no logs of {self.name}: podman did not answer in 60 s)"
        return r.stdout + r.stderr

    def stop(self, grace: int = 30) -> tuple[int, float]:
        """``stop`` (SIGTERM, then SIGKILL after ``grace`` s): (exit code, seconds it took)."""
        started = time.monotonic()
        cli("stop", "-t", str(grace), self.name, timeout=grace + 60)
        seconds = time.monotonic() - started
        code = int(cli("inspect", self.name, "--format", "{{.State.ExitCode}}").stdout.strip())
        return code, seconds

    def remove(self) -> None:
        try:
            cli("rm", "-f", self.name, check=False, timeout=180)
        except subprocess.TimeoutExpired:  # leave it; a test failing here would hide the test's own result
            print(f"podman rm -f {self.name} did not finish in 180 s")

