"""In-process serving tests: the real app (routes, middleware, serving layer, registry) on tests/fakes.py's
FakeEngine, through ``httpx.ASGITransport`` inside ``asgi_lifespan.LifespanManager`` (support.app_client).

What a surface does with a real voice over a real socket is checked once per surface by the real-server
acceptance files (tests/test_openai_sdk.py, tests/compat/test_*.py, ...); here the behaviour: status codes,
error bodies, limits, headers, formats, order of events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from flashtts.config.settings import ServerConfig

from fakes import FakeEngine
from support import app_client


@pytest.fixture
def serve(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with serve(engine=None, **config) as client``: a fresh app on a FakeEngine (or ``engine``),
    its roles in this test's temp folder unless ``role_dir`` is given."""

    def start(engine: FakeEngine | None = None, **config) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        config.setdefault("role_dir", tmp_path / "roles")
        return app_client(ServerConfig(**config), engine or FakeEngine())

    return start


@pytest.fixture
async def fake_client(serve) -> AsyncIterator[httpx.AsyncClient]:
    """The default app (no keys, default limits) on a FakeEngine; ``fake_client.engine`` is the engine."""
    engine = FakeEngine()
    async with serve(engine) as client:
        client.engine = engine  # type: ignore[attr-defined]
        yield client
