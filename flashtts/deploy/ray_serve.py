"""Scale-out on Ray Serve: the same FastAPI app and engines as ``flashtts serve``, as N replicas.

``flashtts serve --ray --replicas N [...]`` (or :func:`run`) starts a local Ray instance (or joins
``--ray_address``), deploys :func:`deployment` and serves it through Ray Serve's HTTP proxy on
``--host``/``--port``. Each replica builds the app with :func:`flashtts.http.app.create_app` — its
lifespan loads the engine inside the replica — and answers with an ``X-Replica-Id`` header.

* Routing and load limits are Ray's: ``max_ongoing_requests`` per replica, ``max_queued_requests``
  per deployment (beyond it the proxy answers 503), and optional autoscaling between
  ``min_replicas`` and ``max_replicas`` on ongoing requests (Ray's own autoscaler).
* The speaker registry is a directory every replica reads on each request: give all replicas the
  same ``--role_dir`` (a shared filesystem path across machines), so a role added through one
  replica is used by every other one at once.
* A replica whose engine is not ready fails Ray's health check and is replaced by the controller.
* Shutdown with grace: on SIGTERM/SIGINT the application is deleted through Ray Serve's own graceful
  path: the proxy stops routing to it (new requests, ``/ready`` included, get 503 with
  ``Retry-After`` from :class:`ProxyErrorMiddleware`), each replica finishes its requests in flight
  for up to ``--shutdown_grace`` seconds (``graceful_shutdown_timeout_s``) and is then stopped;
  the process exits 0. A second signal skips the wait.

Ray is an optional extra: ``pip install "flashtts[ray]"``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from flashtts.config.settings import RaySettings, ServerConfig

log = logging.getLogger(__name__)

REPLICA_HEADER = b"x-replica-id"
PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to 0, Ray's node address is 127.0.0.1 instead of the machine's address (single-machine use)."""
APP_NAME = "flashtts"


class ReplicaIdMiddleware:
    """Adds ``X-Replica-Id`` (this replica's Ray id) to every HTTP answer."""

    def __init__(self, app: Any, replica_id: str) -> None:
        self.app = app
        self.replica_id = replica_id.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_replica(message) -> None:
            if message["type"] == "http.response.start":
                # Ray's proxy adds X-Request-Id itself (the id our middleware adopted): keep one copy
                headers = [(k, v) for k, v in (message.get("headers") or []) if k.lower() != b"x-request-id"]
                message["headers"] = [*headers, (REPLICA_HEADER, self.replica_id)]
            await send(message)

        await self.app(scope, receive, send_with_replica)


class ProxyErrorMiddleware:
    """Runs in Ray's HTTP proxy: its own bare errors become retriable OpenAI-style answers.

    An answer without ``X-Replica-Id`` and with a 5xx status, or a 404 (the app is mounted on
    ``/``, so the proxy finds no route only while the app is not deployed: starting or shutting
    down), did not come from the app but from the proxy itself (the replica died mid-request, no
    replica is available, the queue is full): it is answered 503 with ``Retry-After`` and an error
    body, so clients retry it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = started = False

        async def send_checked(message) -> None:
            nonlocal replaced, started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers") or []
                from_proxy = not any(k.lower() == REPLICA_HEADER for k, _ in headers)
                if from_proxy and (message["status"] >= 500 or message["status"] == 404):
                    replaced = True
                    body = json.dumps({"error": {
                        "message": "the replica serving this request stopped, or none is available; retry it",
                        "type": "server_error", "param": None,
                        "code": "replica_unavailable"}}).encode()
                    keep = [(k, v) for k, v in headers if k.lower() == b"x-request-id"]
                    await send({"type": "http.response.start", "status": 503, "headers": [
                        *keep, (b"content-type", b"application/json"), (b"retry-after", b"1"),
                        (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
            elif replaced:
                return  # the proxy's own text body is dropped
            await send(message)

        try:
            await self.app(scope, receive, send_checked)
        except Exception:
            if started:
                raise
            log.exception("Ray's proxy failed before answering")
        if not started:  # the proxy gave up without answering (it does so for a replica that died)
            await send_checked({"type": "http.response.start", "status": 500, "headers": []})


def proxy_middlewares() -> list:
    """Ray's ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` hook: middleware for the HTTP proxy."""
    from starlette.middleware import Middleware

    return [Middleware(ProxyErrorMiddleware)]


def _replica_id() -> str:
    from ray import serve

    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # outside a replica (tests building the app directly)
        return f"pid-{os.getpid()}"


def deployment(config: ServerConfig, settings: RaySettings):
    """The bound Ray Serve application: one deployment whose replicas each run the whole app."""
    from ray import serve

    def build_app():
        from flashtts.http.app import create_app

        app = create_app(config)
        app.add_middleware(ReplicaIdMiddleware, replica_id=_replica_id())
        return app

    autoscaling = None
    if settings.max_replicas and settings.max_replicas > settings.replicas:
        autoscaling = {"min_replicas": settings.replicas, "max_replicas": settings.max_replicas,
                       "target_ongoing_requests": max(1, settings.max_ongoing_requests // 2)}

    @serve.deployment(
        name="FlashTTS",
        num_replicas=None if autoscaling else settings.replicas,
        autoscaling_config=autoscaling,
        max_ongoing_requests=settings.max_ongoing_requests,
        max_queued_requests=settings.max_queued_requests,
        ray_actor_options={"num_cpus": settings.num_cpus, "num_gpus": settings.num_gpus},
        health_check_period_s=2.0,
        health_check_timeout_s=30.0,
        graceful_shutdown_timeout_s=settings.graceful_shutdown_timeout_s,
    )
    @serve.ingress(build_app)
    class FlashTTS:
        def check_health(self) -> None:
            """Ray's health check: the engine of this replica takes requests."""
            service = getattr(self.app.state, "service", None)  # type: ignore[attr-defined]
            if service is None or not service.engine.ready():
                raise RuntimeError("engine is not ready")

    return FlashTTS.bind()  # type: ignore[attr-defined]  # serve.deployment made it a Deployment (ray is untyped here)


def start(config: ServerConfig, settings: RaySettings) -> None:
    """Start (or join) Ray, start Serve's proxy on ``config.host:port`` and deploy the app."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    os.environ.setdefault(PROXY_CALLBACK_ENV, "flashtts.deploy.ray_serve.proxy_middlewares")
    if not settings.address:
        # a local instance stays on loopback: Ray otherwise binds and talks on the machine's own IP
        if "ray" in sys.modules and os.environ.get(LOOPBACK_ENV) != "0":
            log.warning("ray was imported before %s=0 was set; Ray may use a non-loopback address", LOOPBACK_ENV)
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray
    from ray import serve

    if not ray.is_initialized():
        if settings.address:
            ray.init(address=settings.address, include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING,
                     num_cpus=max(os.cpu_count() or 1, int(settings.replicas * settings.num_cpus) + 1))
    serve.start(http_options={"host": config.host, "port": config.port}, detached=False)
    serve.run(deployment(config, settings), name=APP_NAME, route_prefix="/", blocking=False)


def run(config: ServerConfig, settings: RaySettings) -> None:
    """``flashtts serve --ray``: deploy, then serve until SIGINT/SIGTERM."""
    config = replace(config, role_dir=config.role_dir.resolve())  # replicas may run in other folders
    start(config, settings)  # imports ray only after its environment is set

    import ray
    from ray import serve

    log.info("Ray Serve: %d replica(s) of engine %s on http://%s:%d", settings.replicas, config.engine,
             config.host, config.port)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set():  # a second signal: no more waiting
            raise SystemExit(0)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    stop.wait()
    try:
        log.info("shutting down: requests in flight get up to %g s to finish; new requests get 503",
                 settings.graceful_shutdown_timeout_s)
        serve.delete(APP_NAME)  # Ray's graceful path: unrouted first, then each replica drains and stops
    finally:
        serve.shutdown()
        ray.shutdown()
