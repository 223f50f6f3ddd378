"""The ``flashtts`` command: serve, synth, roles, engines, dev tools."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from flashtts.cli.bench.cli import bench
from flashtts.cli.client import client
from flashtts.config.options import ServeOptions, env_var, fields, parse_engine_opts, serve_option, typer_signature
from flashtts.engine import Engine, EngineConfig, GenerationOptions

app = typer.Typer(help="flashtts: a self-hosted, batching text-to-speech server.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
roles_app = typer.Typer(help="Manage the on-disk speaker registry.", no_args_is_help=True)
dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")
app.add_typer(dev_app, name="dev")


app.command(name="bench")(bench)
app.command(name="client", help="CosyVoice's client.py: call /inference_<mode> and save the answer as WAV.")(client)


def serve(**values: Any) -> None:
    """Serve the HTTP API (and the web UI at /)."""
    from flashtts.config.compat import apply_launch_options
    from flashtts.config.startup_checks import check_log_level, check_role_dir, clear_startup_errors, unknown_variables
    from flashtts.http.app import create_app

    opts = ServeOptions(**values)
    if len(opts.model_path) > 1 and not _check_engine(opts.engine).many_models:
        typer.echo(f"error: engine '{opts.engine}' serves one --model_path; {len(opts.model_path)} given", err=True)
        raise typer.Exit(2)
    _check_engine(opts.engine)
    try:
        check_log_level(opts.log_level)
        config = opts.server_config()
        config, notes = apply_launch_options(config, compat=opts.compat, gpu=opts.gpu, workers=opts.workers,
                                             result_cache_mb=opts.result_cache_mb, flashtts=opts.flashtts_options())
        check_role_dir(config.role_dir)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=opts.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("flashtts.cli.main")
    for note in notes:
        log.info(note)
    for warning in unknown_variables(os.environ, (env_var(f.name) for f, _, _ in fields())):
        log.warning(warning)
    if opts.ray:
        if opts.wyoming_port:
            typer.echo("error: --wyoming_port runs beside a single server, not under --ray", err=True)
            raise typer.Exit(2)
        from flashtts.deploy.ray_serve import run as ray_run

        ray_run(config, opts.ray_settings())
        return
    from flashtts.http.server import run

    server_app = create_app(config)
    run(clear_startup_errors(server_app), host=opts.host, port=opts.port, log_level=opts.log_level.lower(),
        header_timeout=opts.header_timeout, idle_timeout=opts.idle_timeout, drain=server_app.state.drain)


serve.__signature__ = typer_signature()  # type: ignore[attr-defined]  # one option per ServeOptions field
app.command()(serve)


def _check_engine(name: str) -> type[Engine]:
    from flashtts.engine.registry import UnknownEngineError, engine_class

    try:
        return engine_class(name)
    except UnknownEngineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ImportError as exc:
        typer.echo(f"error: engine '{name}' is installed but cannot be imported: {exc}", err=True)
        raise typer.Exit(2) from None


SYNTH_OPTIONS = ("engine", "model_path", "revision", "backend", "device", "dtype", "seed", "engine_opt", "role_dir")
"""The ``serve`` options ``synth`` takes (the same flags, variables and defaults)."""


def _synth_arguments(
    text: str = typer.Argument(..., help="Text to speak ('-' reads standard input)"),
    output: Path = typer.Option(Path("speech.wav"), "--output", "-o", help="Output file; its suffix picks the format"),
    voice: str | None = typer.Option(None, "--voice", help="Built-in voice or role (engine default when omitted)"),
    instructions: str | None = typer.Option(None, "--instructions", help="Style instructions / voice description"),
    language: str | None = typer.Option(None, "--language"),
    speed: float | None = typer.Option(None, "--speed", min=0.25, max=4.0),
) -> None:
    """The arguments of ``synth`` that are not ``serve`` options."""


def synth(*, text: str, output: Path, voice: str | None, instructions: str | None, language: str | None,
          speed: float | None, **values: Any) -> None:
    """Synthesise text to a file with the same engine code the server uses."""
    from flashtts.engine.registry import create_engine
    from flashtts.metrics import Metrics
    from flashtts.serving import SpeechService, Utterance
    from flashtts.serving.errors import to_api_error

    opts = replace(ServeOptions(**values), batch_size=1, wait_timeout=0.0)  # one request: no batching wait
    _check_engine(opts.engine)
    try:
        config = opts.server_config()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if text == "-":
        text = sys.stdin.read()
    fmt = output.suffix.lstrip(".").lower() or "wav"

    async def run() -> float:
        metrics = Metrics()
        eng = create_engine(config.engine, config.engine_config, metrics)
        service = SpeechService(config, eng, _registry(config.role_dir), metrics)
        service.planning.check_text(text, "text")  # what needs no model is refused before one is loaded
        service.planning.check_format(fmt)
        await eng.start()
        try:
            chosen = service.voices.resolve_voice(voice or eng.info.default_voice or "default", "voice")
            utterance = Utterance(text, chosen, instructions=instructions, speed=speed, language=language)
            plan = service.planning.plan_now("synth", [utterance],
                                    response_format=fmt, options=GenerationOptions(seed=opts.seed))
            data, seconds = await service.execution.complete(plan)
            await asyncio.to_thread(output.write_bytes, data)
            return seconds
        finally:
            await eng.stop()

    try:
        seconds = asyncio.run(run())
    except Exception as exc:  # show the same message the HTTP API would
        typer.echo(f"error: {to_api_error(exc).message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {output} ({seconds:.2f} s of audio)")


synth.__signature__ = typer_signature(SYNTH_OPTIONS, before=_synth_arguments)  # type: ignore[attr-defined]
app.command()(synth)


@app.command()
def engines(json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List installed engines and what each can do."""
    from flashtts.engine.registry import available

    rows = []
    for name, ep in sorted(available().items()):
        try:
            cls = ep.load()
            caps = cls.static_capabilities()
            rows.append({"name": name, "description": cls.description,
                         "capabilities": caps.names() if caps else "depends on the checkpoint", "importable": True})
        except Exception as exc:  # an engine whose extra is not installed
            rows.append({"name": name, "description": "", "capabilities": None, "importable": False,
                         "error": f"{type(exc).__name__}: {exc}"})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        caps = row["capabilities"]
        caps_s = ", ".join(caps) if isinstance(caps, list) else (caps or "")
        status = "" if row["importable"] else f"  [not importable: {row['error']}]"
        typer.echo(f"{row['name']:<10} {row['description']}{status}\n{'':<10} capabilities: {caps_s}")


def _registry(role_dir: Path):
    from flashtts.config.paths import default_roles_dir
    from flashtts.voices.registry import SpeakerRegistry

    return SpeakerRegistry(role_dir, defaults=default_roles_dir())


@roles_app.command("list")
def roles_list(role_dir: Path = serve_option("role_dir")) -> None:
    """List roles."""
    for role in _registry(role_dir).list():
        kind = "clone" if role.has_audio else f"voice={role.voice or 'default'}"
        typer.echo(f"{role.name}\t{kind}\t{role.reference_text or role.instructions or ''}")


@roles_app.command("add")
def roles_add(
    name: str = typer.Argument(...),
    audio: Path | None = typer.Option(None, "--audio", help="Reference clip (wav/mp3/m4a/ogg/flac)"),
    reference_text: str | None = typer.Option(None, "--reference_text", "--reference-text"),
    voice: str | None = typer.Option(None, "--voice", help="Built-in voice the role speaks with"),
    instructions: str | None = typer.Option(None, "--instructions"),
    speed: float | None = typer.Option(None, "--speed", min=0.25, max=4.0),
    language: str | None = typer.Option(None, "--language"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    role_dir: Path = serve_option("role_dir"),
) -> None:
    """Add a role from a clip or a voice preset."""
    from flashtts.audio import AudioDecodeError, decode
    from flashtts.voices.registry import Role, RoleError, RoleExistsError

    samples = None
    rate = 24000
    if audio is not None:
        try:
            samples = decode(audio.read_bytes(), rate)
        except (OSError, AudioDecodeError) as exc:
            typer.echo(f"error: {audio}: {exc}", err=True)
            raise typer.Exit(1) from None
    try:
        _registry(role_dir).add(Role(name=name, voice=voice, reference_text=reference_text, instructions=instructions,
                                     speed=speed, language=language), samples, rate if samples is not None else None,
                                overwrite=overwrite)
    except (RoleError, RoleExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"added role {name}")


@roles_app.command("delete")
def roles_delete(name: str = typer.Argument(...),
                 role_dir: Path = serve_option("role_dir")) -> None:
    """Delete a role."""
    from flashtts.voices.registry import RoleError, RoleNotFoundError

    try:
        _registry(role_dir).delete(name)
    except (RoleError, RoleNotFoundError) as exc:
        typer.echo(f"error: no such role: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"deleted role {name}")


@app.command()
def download(
    name: str = typer.Argument(..., help="Hugging Face Hub model id (Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice) or a "
                                         "voice of the engine's catalogue (Piper: en_GB-alba-medium)"),
    revision: str | None = serve_option("revision"),
    engine: str | None = typer.Option(None, "--engine", help="Fetch only the files this engine reads (kokoro: "
                                      "one precision of the model, the voices; default: the whole repository); "
                                      "the engine whose catalogue names a voice (default: piper)"),
    engine_opt: list[str] = serve_option("engine_opt"),  # kokoro: precision=int8|fp16|fp32
) -> None:
    """Fetch a Hub model or a catalogue voice into the Hugging Face cache (HF_HOME) with progress bars;
    print where it is."""
    from flashtts.engine.hub import ModelNotFoundError, cache_dir, is_repo_id
    from flashtts.engine.hub import download as fetch

    if not is_repo_id(name):  # a voice of an engine's catalogue (Piper's: en_GB-alba-medium)
        catalogue = engine or "piper"
        typer.echo(f"fetching {name} into {cache_dir()}", err=True)
        try:
            found = _check_engine(catalogue).prefetch(name, revision)
        except (ModelNotFoundError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        if found is None:
            typer.echo(f"error: '{name}' is neither a Hub model id (owner/name) nor a voice engine '{catalogue}' "
                       "knows", err=True)
            raise typer.Exit(2)
        typer.echo(found)
        return
    patterns = None
    if engine is not None:
        from flashtts.engine.registry import engine_class

        _check_engine(engine)
        try:
            config = EngineConfig(model_path=name, revision=revision, extra=parse_engine_opts(engine_opt))
            patterns = engine_class(engine).hub_patterns(config)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"fetching {name} into {cache_dir()}", err=True)
    try:
        path = fetch(name, revision, allow_patterns=patterns)
    except ModelNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(path))


@dev_app.command("make-checkpoint")
def make_checkpoint_cmd(
    out: Path = typer.Argument(..., help="Directory to write the checkpoint into"),
    kind: str = typer.Option("custom_voice", "--kind", help="custom_voice | voice_design | base"),
    size: str = typer.Option("tiny", "--size", help="tiny | 0.6b | 1.7b"),
    seed: int = typer.Option(0, "--seed", help="Random-weight seed"),
    tokenizer: Path | None = typer.Option(None, "--tokenizer",
                                          help="qwen.tiktoken for full sizes (default: the dashscope wheel's)"),
    device: str = typer.Option("cpu", "--device"),
    dtype: str = typer.Option("float32", "--dtype"),
    no_eos: bool = typer.Option(False, "--no-eos", "--no_eos",
                                help="Never emit end-of-speech (fixed-length benchmarks)"),
) -> None:
    """Build a random-weight Qwen3-TTS checkpoint of the real architecture (needs the qwen extra)."""
    try:
        from flashtts_engines.qwen3.checkpoint import make_checkpoint
    except ImportError as exc:
        typer.echo(f"error: the Qwen3 engine is not installed ({exc}); pip install 'flashtts[qwen]'", err=True)
        raise typer.Exit(2) from None
    path = make_checkpoint(kind, size, out, seed=seed, tokenizer=tokenizer, device=device, dtype=dtype, no_eos=no_eos)
    typer.echo(f"wrote {kind} {size} checkpoint to {path}")


@dev_app.command("options-table")
def options_table_cmd() -> None:
    """Print the README's table of `flashtts serve` options (generated from flashtts/config/options.py)."""
    from flashtts.config.options import options_table

    typer.echo(options_table(), nl=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
