"""``python -m flashtts.cli.healthcheck``: exit 0 when the server on this machine answers ``/health`` healthy.

The container image's HEALTHCHECK. It reads the settings ``flashtts serve`` reads from the
environment (``FLASHTTS_HOST``, ``FLASHTTS_PORT``, ``FLASHTTS_ALLOWED_HOSTS``), so it asks the
server the container runs, under a ``Host`` name that server answers to. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Mapping

from flashtts.config.settings import LOOPBACK_NAMES, WILDCARD_BINDS


def target(environ: Mapping[str, str]) -> tuple[str, str]:
    """(URL of ``/health``, ``Host`` header) for the server configured by ``environ``."""
    bind = environ.get("FLASHTTS_HOST", "").strip() or "127.0.0.1"
    port = environ.get("FLASHTTS_PORT", "").strip() or "8000"
    address = "127.0.0.1" if bind in WILDCARD_BINDS else bind.strip("[]")
    netloc = f"[{address}]" if ":" in address else address
    allowed = [h.strip() for h in environ.get("FLASHTTS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = address
    if allowed and "*" not in allowed and not set(LOOPBACK_NAMES) & set(allowed):
        host = allowed[0].replace("*", "health", 1)  # '*.example.com' -> 'health.example.com'
    return f"http://{netloc}:{port}/health", host


def main() -> int:
    url, host = target(os.environ)
    try:
        request = urllib.request.Request(url, headers={"Host": host})
        with urllib.request.urlopen(request, timeout=4) as response:
            status = json.load(response).get("status")
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != "healthy":
        print(f"unhealthy: {url}: status {status!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
