"""What ``flashtts serve`` checks before it loads an engine, and how a failed start is reported.

A setting that cannot work (a ``FLASHTTS_*`` variable in a container as much as a flag) ends the
process with one paragraph on stderr that names the setting and what to do, never a traceback:
:class:`ConfigError` is raised before anything is loaded; a start that fails later (an engine that
cannot load its model, a registry that cannot be read) is reported by :func:`clear_startup_errors`
(the traceback is logged at debug level).
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
ENV_PREFIX = "FLASHTTS_"
OTHER_VARIABLES = frozenset({"FLASHTTS_REQUIRE_VLLM", "FLASHTTS_BENCH_API_KEY", "FLASHTTS_CACHE_DIR"})
"""``FLASHTTS_*`` variables that are no ``serve`` option: read by other commands (the test suite, ``flashtts
bench``) or by the engines (``FLASHTTS_CACHE_DIR``: where Piper keeps its prepared models)."""
OTHER_PREFIXES = ("FLASHTTS_TEST_",)
"""The image tests' settings (``make test-image``)."""


class ConfigError(ValueError):
    """A setting that cannot work; the message says which one and what to do."""


def check_log_level(level: str) -> None:
    if level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log_level (FLASHTTS_LOG_LEVEL) is {level!r}; choose one of {', '.join(LOG_LEVELS)}")


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_role_dir(path: Path) -> None:
    """The speaker registry's folder, or the folder it will be made in, is a directory this process can write.

    Nothing is created (the registry seeds the default roles into a folder it creates itself): a
    temporary file is written and removed in the folder, or in its nearest existing parent.
    """
    where = _existing_ancestor(path)
    problem = None
    if not where.is_dir():
        problem = f"{where} is not a directory"
    else:
        try:
            with tempfile.TemporaryFile(dir=where, prefix=".flashtts-write-test-"):
                pass
        except OSError as exc:
            problem = f"{where}: {exc.strerror or exc}"
    if problem is None:
        return
    uid = os.getuid() if hasattr(os, "getuid") else None
    who = f"flashtts runs as user id {uid} here" if uid is not None else "flashtts cannot write there"
    raise ConfigError(
        f"the role directory {path} cannot be written ({problem}). {who}: make the directory (in a container, the "
        f"volume or host folder mounted there) writable for it, e.g. `chown -R {uid if uid is not None else 'USER'} "
        "DIR` on the host for a bind mount, or set --role_dir (FLASHTTS_ROLE_DIR) to a writable directory.")


def unknown_variables(environ: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """One warning per ``FLASHTTS_*`` variable that no option reads (a typo is otherwise silently ignored)."""
    known = set(known)
    notes = []
    for name in sorted(environ):
        if (not name.startswith(ENV_PREFIX) or name in known or name in OTHER_VARIABLES
                or name.startswith(OTHER_PREFIXES)):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        notes.append(f"ignoring {name}: no flashtts serve option reads it{hint}")
    return notes


def describe(exc: BaseException) -> str:
    """An exception as one line: its message, and its type where the message alone would be unclear."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, ConfigError) else f"{text} ({type(exc).__name__})"


def clear_startup_errors(app: Any) -> Any:
    """``app`` whose failed start (lifespan startup) uvicorn reports as one line instead of a traceback.

    Starlette sends ``lifespan.startup.failed`` with the formatted traceback while it handles the
    exception; the message is replaced by :func:`describe` of that exception before uvicorn logs it.
    """

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_clear(message: dict) -> None:
            exc = sys.exc_info()[1]  # the exception Starlette is handling while it sends the failure
            if message["type"] == "lifespan.startup.failed" and exc is not None:
                log.debug("start-up failed", exc_info=exc)
                message = {**message, "message": f"flashtts could not start: {describe(exc)}"}
            await send(message)

        await app(scope, receive, send_clear)

    return wrapped
