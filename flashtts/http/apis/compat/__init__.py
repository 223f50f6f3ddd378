"""Routes of the APIs flashtts stands in for, one folder per document (see ``docs/compat.md``).

Each group is mounted by default; ``flashtts serve --compat`` picks groups (or ``none``).
Paths two documents share answer once with the union of both shapes (``/health`` lives in
:mod:`flashtts.http.apis.system.routes`, ``/metrics`` too).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from flashtts.config.settings import ServerConfig
from flashtts.http.apis.compat.cosyvoice import routes as cosyvoice
from flashtts.http.apis.compat.kokoro_fastapi import routes as kokoro_fastapi
from flashtts.http.apis.compat.qwen_fastapi import routes as qwen_fastapi
from flashtts.http.apis.compat.selfhost import routes as selfhost
from flashtts.http.apis.compat.streaming_service import routes as streaming_service

GROUPS: dict[str, tuple[APIRouter, ...]] = {
    "qwen_fastapi": (qwen_fastapi.router,),
    "selfhost": (selfhost.open_router, selfhost.router),
    "streaming": (streaming_service.router,),
    "cosyvoice": (cosyvoice.router,),
    "kokoro_fastapi": (kokoro_fastapi.router,),
}
"""Group name -> its routers: Qwen3-TTS FastAPI deployment, Qwen3-TTS self-hosting plan,
Qwen-TTS streaming service, CosyVoice, Kokoro-FastAPI's phoneme routes (the names ``--compat`` takes:
:data:`flashtts.config.compat.COMPAT_GROUPS`)."""


def include(app: FastAPI, config: ServerConfig) -> None:
    """Mount the groups ``config.compat`` names (all when None)."""
    for name in GROUPS if config.compat is None else config.compat:
        for router in GROUPS[name]:
            app.include_router(router)

