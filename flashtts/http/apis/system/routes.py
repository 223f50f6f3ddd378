"""Health, readiness, server info and metrics."""

from __future__ import annotations

import sys
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from flashtts import __version__
from flashtts.http.apis import get_service
from flashtts.http.auth import require_api_key
from flashtts.memory import rss_mib
from flashtts.serving import SpeechService
from flashtts.serving.shutdown import RETRY_AFTER

open_router = APIRouter(tags=["system"])
router = APIRouter(tags=["system"], dependencies=[Depends(require_api_key)])


def cuda_available() -> bool:
    """True when an engine runs on PyTorch with CUDA; torch is never imported here just to ask."""
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:
        return False


def health_body(request: Request) -> dict:
    """One health shape for every API that has one: flashtts's, Qwen3-TTS FastAPI's
    (``status``, ``model_loaded``, ``cuda_available``) and the self-hosting plan's ``/api/health``
    (``device``, ``concurrent_tasks``, ``uptime_seconds``)."""
    service: SpeechService | None = getattr(request.app.state, "service", None)
    ready = service is not None and service.engine.ready()
    loaded = ready and service is not None and service.engine.loaded()
    status = "healthy" if ready else ("starting" if service is None else "unhealthy")
    config = request.app.state.config
    device = config.engine_config.device
    if service is not None:
        device = str(service.engine.info.extra.get("device") or device)
    return {"status": status, "model_loaded": loaded, "cuda_available": cuda_available(), "device": device,
            "concurrent_tasks": service.admission.in_flight if service is not None else 0,
            "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
            "engine": config.engine, "version": __version__}


@open_router.get("/health", summary="Liveness (always 200; 'status' tells healthy/unhealthy)")
async def health(request: Request) -> dict:
    return health_body(request)


@open_router.get("/ready", summary="Readiness: 200 when the engine takes requests, else 503 (starting, "
                                   "failed, shutting down)")
async def ready(request: Request) -> JSONResponse:
    service: SpeechService | None = getattr(request.app.state, "service", None)
    draining = request.app.state.drain.draining
    ok = service is not None and service.engine.ready() and not draining
    body = {"ready": ok, "loaded": service is not None and service.engine.loaded(), "draining": draining}
    headers = {"Retry-After": str(RETRY_AFTER)} if draining else None
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


@router.get("/server_info", summary="Engine, capabilities, settings and counters")
async def server_info(request: Request, service: SpeechService = Depends(get_service)) -> dict:
    info = service.engine.info
    cfg = request.app.state.config
    return {
        "success": True,
        "version": __version__,
        "engine": info.name,
        "model": info.model,
        "sample_rate": info.sample_rate,
        "output_sample_rate": 24000,
        "voices": [v.id for v in info.voices],
        "default_voice": info.default_voice,
        "languages": list(info.languages),
        "capabilities": info.capabilities.names(),
        "roles": [role.name for role in await service.roles.list()],
        "lexicon": service.markup.lexicon_file.describe() if service.markup.lexicon_file is not None else None,
        "settings": {
            "batch_size": cfg.engine_config.batch_size, "wait_timeout": cfg.engine_config.wait_timeout,
            "queue_limit": cfg.queue_limit, "request_timeout": cfg.request_timeout,
            "backend": cfg.engine_config.backend, "device": cfg.engine_config.device,
            "auth": bool(cfg.api_keys), "max_live_sessions": cfg.limits.max_live_sessions,
            "max_live_sessions_per_client": cfg.limits.max_live_sessions_per_client,
            "live_idle_timeout": cfg.limits.live_idle_timeout, "shutdown_grace": cfg.shutdown_grace,
            "idle_unload": cfg.idle_unload,
        },
        "model_loaded": service.engine.loaded(),
        "rss_mib": rss_mib(),  # this process's resident memory (the engine's loaded voices: engine_stats)
        "rss_before_load_mib": getattr(request.app.state, "memory_before_load", None),
        "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
        "stats": service.metrics.snapshot(),
        "engine_stats": service.engine.stats(),
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(service: SpeechService = Depends(get_service)) -> PlainTextResponse:
    return PlainTextResponse(service.metrics.prometheus(), media_type="text/plain; version=0.0.4")
