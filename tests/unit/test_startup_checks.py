"""Bad settings end `flashtts serve` with one clear paragraph, never a traceback (flashtts/config/startup_checks.py).

In-process: the CLI through Typer's runner (each case fails before an engine loads) and the ASGI
wrapper that turns a failed start into one line. The same cases in a container: tests/container.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from flashtts.cli.main import app
from flashtts.config.startup_checks import ConfigError, check_role_dir, clear_startup_errors, unknown_variables


def serve(env: dict[str, str], tmp_path: Path):
    return CliRunner().invoke(app, ["serve"], env={"FLASHTTS_ROLE_DIR": str(tmp_path / "roles"), **env})


@pytest.mark.parametrize("env, expected", [
    ({"FLASHTTS_PORT": "eighty"}, "FLASHTTS_PORT"),
    ({"FLASHTTS_LOG_LEVEL": "loud"}, "--log_level (FLASHTTS_LOG_LEVEL) is 'loud'; choose one of debug, info"),
    ({"FLASHTTS_ENGINE": "nope"}, "unknown engine 'nope'"),
    ({"FLASHTTS_COMPAT": "everything"}, "unknown group(s) everything"),
    ({"FLASHTTS_BATCH_SIZE": "0"}, "FLASHTTS_BATCH_SIZE"),
])
def test_a_bad_variable_is_named_in_one_message(tmp_path, env, expected):
    result = serve(env, tmp_path)
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.replace("│", " ").split()), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert not (tmp_path / "roles").exists()  # refused before anything was made


def test_a_role_dir_that_cannot_be_made_is_refused_before_the_engine_loads(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where a folder should be")
    result = serve({"FLASHTTS_ROLE_DIR": str(blocker / "roles")}, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"the role directory {blocker / 'roles'} cannot be written ({blocker} is not a directory)" in result.output
    assert "FLASHTTS_ROLE_DIR" in result.output and "Traceback" not in result.output


def test_check_role_dir_writes_nothing_it_leaves(tmp_path):
    check_role_dir(tmp_path / "new" / "roles")  # writable parent: fine, and not created (the registry seeds it)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "roles").mkdir()
    check_role_dir(tmp_path / "roles")
    assert list((tmp_path / "roles").iterdir()) == []
    with pytest.raises(ConfigError, match="not a directory"):
        (tmp_path / "file").write_text("")
        check_role_dir(tmp_path / "file")


def test_unknown_variables_are_named_with_the_likely_one():
    notes = unknown_variables({"FLASHTTS_PROT": "8000", "FLASHTTS_PORT": "1", "FLASHTTS_ZZZ": "1", "HOME": "/",
                               "FLASHTTS_REQUIRE_VLLM": "1", "FLASHTTS_TEST_IMAGE": "x", "FLASHTTS_CACHE_DIR": "/c"},
                              ["FLASHTTS_PORT", "FLASHTTS_HOST"])
    assert notes == ["ignoring FLASHTTS_PROT: no flashtts serve option reads it (did you mean FLASHTTS_PORT?)",
                     "ignoring FLASHTTS_ZZZ: no flashtts serve option reads it"]


async def lifespan_messages(asgi_app) -> list[dict]:
    """Drive the ASGI lifespan protocol as uvicorn does: startup, then shutdown; the messages the app sent."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(incoming)

    async def send(message: dict) -> None:
        sent.append(message)

    with contextlib.suppress(FileNotFoundError):
        await asgi_app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


async def test_a_failed_start_is_reported_in_one_line():
    @contextlib.asynccontextmanager
    async def lifespan(_):
        raise FileNotFoundError("no Piper .onnx voice at /nope")
        yield

    raw = await lifespan_messages(FastAPI(lifespan=lifespan))
    assert "Traceback" in raw[0]["message"]  # what uvicorn would print without the wrapper
    sent = await lifespan_messages(clear_startup_errors(FastAPI(lifespan=lifespan)))
    assert sent == [{"type": "lifespan.startup.failed",
                     "message": "flashtts could not start: no Piper .onnx voice at /nope (FileNotFoundError)"}]


async def test_a_good_start_passes_through():
    @contextlib.asynccontextmanager
    async def lifespan(_):
        yield

    sent = await lifespan_messages(clear_startup_errors(FastAPI(lifespan=lifespan)))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
