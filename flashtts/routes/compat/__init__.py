"""Routes of the APIs flashtts stands in for, one module per document (see ``docs/compat.md``).

Each group is mounted by default; ``flashtts serve --compat`` picks groups (or ``none``).
Paths two documents share answer once with the union of both shapes (``/health`` lives in
:mod:`flashtts.routes.system`, ``/metrics`` too).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from flashtts.config import ServerConfig
from flashtts.routes.compat import cosyvoice, kokoro_fastapi, qwen_fastapi, selfhost, streaming_service

GROUPS: dict[str, tuple[APIRouter, ...]] = {
    "qwen_fastapi": (qwen_fastapi.router,),
    "selfhost": (selfhost.open_router, selfhost.router),
    "streaming": (streaming_service.router,),
    "cosyvoice": (cosyvoice.router,),
    "kokoro_fastapi": (kokoro_fastapi.router,),
}
"""Group name -> its routers: Qwen3-TTS FastAPI deployment, Qwen3-TTS self-hosting plan,
Qwen-TTS streaming service, CosyVoice, Kokoro-FastAPI's phoneme routes."""


def parse_groups(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``--compat`` values (repeatable, comma-separated; ``all`` or ``none``) -> group names (None: all)."""
    names = [n.strip().lower() for v in (values or []) for n in v.split(",") if n.strip()]
    if not names or names == ["all"]:
        return None
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in GROUPS]
    if unknown or "none" in names or "all" in names:
        bad = ", ".join(unknown) or "none/all mixed with group names"
        raise ValueError(f"--compat: unknown group(s) {bad}; choose from {', '.join(GROUPS)}, or all, or none")
    return tuple(dict.fromkeys(names))


def include(app: FastAPI, config: ServerConfig) -> None:
    """Mount the groups ``config.compat`` names (all when None)."""
    for name in GROUPS if config.compat is None else config.compat:
        for router in GROUPS[name]:
            app.include_router(router)

