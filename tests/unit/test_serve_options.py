"""`flashtts` options are defined once (flashtts/config/options.py): the CLI of serve, synth and roles, the
environment variables and the README table all come from there, and every default is the one of the settings
the code reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from typer.testing import CliRunner

from flashtts.cli.main import SYNTH_OPTIONS, app
from flashtts.config.options import ServeOptions, env_var, fields, options_table
from flashtts.config.settings import RaySettings, ServerConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- serve-options:start")
    start = text.index("\n", start) + 1
    end = text.index("<!-- serve-options:end -->")
    assert text[start:end] == options_table(), "README options table is stale: run `flashtts dev options-table`"


def test_every_field_is_an_option_with_its_variable():
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    params = {p.name: p for p in serve.params}
    assert set(params) == {f.name for f, _, _ in fields()}
    for f, spec, _ in fields():
        assert f"--{f.name}" in params[f.name].opts and params[f.name].envvar == env_var(f.name), f.name
        for alias in spec.aliases:
            assert alias in params[f.name].opts
    result = CliRunner().invoke(app, ["serve", "--queue_limit", "0"])
    assert result.exit_code == 2  # the field's minimum is enforced


def test_defaults_build_the_default_settings():
    """Every default at once: the options' defaults are exactly the settings' own (ServerConfig with its
    Limits, AudioURLPolicy and EngineConfig, and RaySettings), whole dataclasses compared."""
    assert ServeOptions().server_config() == ServerConfig()
    assert ServeOptions().ray_settings() == RaySettings()
    assert ServeOptions().server_config().limits.max_body_bytes == 16 * 1024 * 1024  # MiB options convert back
    names = {f.name for f in dataclasses.fields(ServeOptions)}
    assert {"header_timeout", "allowed_hosts", "cors_origins", "stream_buffer_mb"} <= names


def _options(command) -> dict:
    return {p.name: p for p in command.params}


def test_synth_roles_and_download_take_serves_options():
    """The options other commands share with serve are serve's: same flags, variable and default."""
    root = typer.main.get_command(app)
    serve = _options(root.commands["serve"])  # type: ignore[attr-defined]
    roles = root.commands["roles"].commands  # type: ignore[attr-defined]
    shared = {"synth": (root.commands["synth"], SYNTH_OPTIONS),  # type: ignore[attr-defined]
              "download": (root.commands["download"], ("revision",)),  # type: ignore[attr-defined]
              **{f"roles {n}": (c, ("role_dir",)) for n, c in roles.items()}}
    assert "revision" in SYNTH_OPTIONS and len(shared) == 5
    for where, (command, names) in shared.items():
        params = _options(command)
        for name in names:
            mine, theirs = params[name], serve[name]
            assert (mine.opts, mine.envvar, mine.default, mine.help) == \
                (theirs.opts, theirs.envvar, theirs.default, theirs.help), (where, name)
