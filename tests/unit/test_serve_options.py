"""`flashtts serve` options are defined once (flashtts/serve_options.py): the CLI, the environment
variables and the README table all come from there."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from typer.testing import CliRunner

from flashtts.cli import app
from flashtts.serve_options import ServeOptions, env_var, fields, options_table

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


def test_defaults_build_the_default_server_config():
    config = ServeOptions().server_config()
    assert config.queue_limit == ServeOptions.queue_limit == 64
    assert config.limits.max_body_bytes == int(ServeOptions.max_body_mb * 1024 * 1024)
    names = {f.name for f in dataclasses.fields(ServeOptions)}
    assert {"header_timeout", "allowed_hosts", "cors_origins", "stream_buffer_mb"} <= names
