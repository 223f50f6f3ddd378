"""``SendTimeoutMiddleware`` on Python 3.10, where ``BaseExceptionGroup`` is not a builtin.

The module is loaded afresh as Python 3.10 would see it (no builtin ``BaseExceptionGroup``,
``sys.version_info`` 3.10): errors must pass through as themselves (not as a ``NameError``), and a
group of slow-client errors (anyio raises the ``exceptiongroup`` backport's groups there) is
still recognised.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys

import pytest

import flashtts.http.middleware

from support import need

exceptiongroup = need("exceptiongroup")


@pytest.fixture
def middleware_on_310():
    """A fresh copy of flashtts/http/middleware.py whose builtins lack ``BaseExceptionGroup``, loaded as on 3.10."""
    spec = importlib.util.spec_from_file_location("middleware_py310", flashtts.http.middleware.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = {k: v for k, v in vars(builtins).items() if k != "BaseExceptionGroup"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "version_info", (3, 10, 14, "final", 0))
        spec.loader.exec_module(module)
    return module, exceptiongroup.BaseExceptionGroup  # what anyio raises on 3.10


async def _receive():
    return {"type": "http.request", "body": b""}


async def _send(message):
    pass


async def test_errors_pass_through_as_themselves(middleware_on_310):
    module, _ = middleware_on_310

    async def app(scope, receive, send):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await module.SendTimeoutMiddleware(app, timeout=5)({"type": "http"}, _receive, _send)


async def test_a_group_of_slow_client_errors_is_recognised(middleware_on_310):
    module, group = middleware_on_310

    async def slow(scope, receive, send):
        raise group("send timed out", [module.SlowClientError("client took no data")])

    await module.SendTimeoutMiddleware(slow, timeout=5)({"type": "http"}, _receive, _send)  # swallowed

    async def mixed(scope, receive, send):
        raise group("two errors", [module.SlowClientError("slow"), KeyError("other")])

    with pytest.raises(group):
        await module.SendTimeoutMiddleware(mixed, timeout=5)({"type": "http"}, _receive, _send)
