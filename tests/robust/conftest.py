"""Fixtures for the robustness tests: module-scoped real servers, a fault-injecting engine, clips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import tone_wav  # noqa: F401  (re-exported for the robustness tests)
from support import LiveServer  # tests/conftest.py

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def module_server(tmp_path_factory) -> Iterator:
    """Factory: ``module_server(*args, env=None)`` starts ``flashtts serve`` on loopback for the module."""
    servers: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LiveServer:
        folder = tmp_path_factory.mktemp("server")
        argv = list(args)
        if "--role_dir" not in argv:
            argv += ["--role_dir", str(folder / "roles")]
        server = LiveServer(argv, folder / "server.log", env).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def faulty_env(tmp_path_factory) -> dict[str, str]:
    """Environment under which ``flashtts serve --engine faulty`` finds the test-only engine.

    The engine is registered the way any engine is, through a ``flashtts.engines`` entry point:
    a minimal ``.dist-info`` folder on ``PYTHONPATH`` next to :mod:`faulty_engine`.
    """
    import os

    site = tmp_path_factory.mktemp("site")
    info = site / "flashtts_faulty_engine-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flashtts-faulty-engine\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[flashtts.engines]\nfaulty = faulty_engine:FaultyPiperEngine\n")
    path = os.pathsep.join([str(site), str(HERE), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path}
