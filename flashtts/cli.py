"""The ``flashtts`` command: serve, synth, roles, engines, dev tools."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from flashtts.bench.cli import bench
from flashtts.client import client
from flashtts.config import AudioURLPolicy, Limits, ServerConfig
from flashtts.engine import EngineConfig, GenerationOptions

app = typer.Typer(help="flashtts: a self-hosted, batching text-to-speech server.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
roles_app = typer.Typer(help="Manage the on-disk speaker registry.", no_args_is_help=True)
dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")
app.add_typer(dev_app, name="dev")
_SCALE = "Scale-out (Ray Serve, docs/scaling.md)"
_COMPAT = "Compatibility (docs/compat.md)"


app.command(name="bench")(bench)
app.command(name="client", help="CosyVoice's client.py: call /inference_<mode> and save the answer as WAV.")(client)


def _opt(default, *names: str, env: str, help: str, **kw):
    """An option under FlashTTS's underscore name, a dashed alias, and a FLASHTTS_* variable."""
    flags = []
    for n in names:
        flags += [n, n.replace("_", "-")] if "_" in n else [n]
    return typer.Option(default, *dict.fromkeys(flags), envvar=f"FLASHTTS_{env}", help=help, show_default=True, **kw)


def _parse_engine_opts(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--engine_opt wants key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _engine_config(model_path, backend, device, dtype, batch_size, wait_timeout, seed, engine_opt,
                   revision=None) -> EngineConfig:
    return EngineConfig(model_path=model_path, revision=revision, backend=backend, device=device, dtype=dtype, batch_size=batch_size,
                        wait_timeout=wait_timeout, seed=seed, defaults=GenerationOptions(seed=seed),
                        extra=_parse_engine_opts(engine_opt or []))


@app.command()
def serve(
    engine: str = _opt("piper", "--engine", env="ENGINE", help="Engine name (see `flashtts engines`)"),
    model_path: Optional[str] = _opt(None, "--model_path", "--model", "--model_dir", env="MODEL_PATH", help="Model/checkpoint path (engine default when omitted); --model (Qwen3-TTS FastAPI) and --model_dir (CosyVoice) are aliases"),
    backend: str = _opt("torch", "--backend", env="BACKEND", help="LLM backend for engines that run one: torch | vllm"),
    device: str = _opt("auto", "--device", "--llm_device", env="DEVICE", help="cpu | cuda | cuda:N | auto"),
    dtype: str = _opt("auto", "--dtype", "--torch_dtype", env="DTYPE", help="auto | float32 | bfloat16 | float16"),
    role_dir: Path = _opt(Path("roles"), "--role_dir", env="ROLE_DIR", help="Speaker registry directory (created and seeded with the default roles when missing)"),
    api_key: List[str] = _opt([], "--api_key", env="API_KEY", help="Require 'Authorization: Bearer KEY'; repeat for several keys (env: comma-separated)"),
    host: str = _opt("127.0.0.1", "--host", env="HOST", help="Address to listen on"),
    port: int = _opt(8000, "--port", env="PORT", help="Port to listen on"),
    batch_size: int = _opt(8, "--batch_size", env="BATCH_SIZE", help="Most requests (or sentences) decoded together", min=1),
    wait_timeout: float = _opt(0.01, "--wait_timeout", env="WAIT_TIMEOUT", help="Seconds to gather a batch after its first request", min=0.0),
    queue_limit: int = _opt(64, "--queue_limit", env="QUEUE_LIMIT", help="Requests admitted at once; beyond it 429 with Retry-After", min=1),
    request_timeout: float = _opt(300.0, "--request_timeout", env="REQUEST_TIMEOUT", help="Seconds a request may take in all", min=0.1),
    seed: Optional[int] = _opt(None, "--seed", env="SEED", help="Default sampling seed for requests that give none"),
    length_threshold: int = _opt(50, "--length_threshold", env="LENGTH_THRESHOLD", help="Split texts longer than this (characters)", min=1),
    window_size: int = _opt(50, "--window_size", env="WINDOW_SIZE", help="Target segment length when splitting", min=1),
    max_text_chars: int = _opt(4096, "--max_text_chars", env="MAX_TEXT_CHARS", help="Longest text accepted", min=1),
    max_upload_mb: float = _opt(10.0, "--max_upload_mb", env="MAX_UPLOAD_MB", help="Largest audio upload (MiB)", min=0.01),
    max_body_mb: float = _opt(16.0, "--max_body_mb", env="MAX_BODY_MB", help="Largest request body of any route (MiB); 413 beyond", min=0.01),
    max_reference_seconds: float = _opt(60.0, "--max_reference_seconds", env="MAX_REFERENCE_SECONDS", help="Longest reference clip (seconds)", min=1.0),
    send_timeout: float = _opt(60.0, "--send_timeout", env="SEND_TIMEOUT", help="Seconds one response write may wait for a client that stopped reading; then the response ends (0: never)", min=0.0),
    max_streams_per_key: int = _opt(0, "--max_streams_per_key", env="MAX_STREAMS_PER_KEY", help="Synthesis requests one API key may have open at once (0: no limit)", min=0),
    allow_audio_urls: bool = _opt(False, "--allow_audio_urls", env="ALLOW_AUDIO_URLS", help="Accept reference audio given as an http(s) URL (hosts from --audio_url_hosts only)"),
    audio_url_hosts: List[str] = _opt([], "--audio_url_hosts", env="AUDIO_URL_HOSTS", help="Hosts reference-audio URLs may name ('*.example.com' for subdomains); repeat or comma-separate"),
    audio_url_allow_private: bool = _opt(False, "--audio_url_allow_private", env="AUDIO_URL_ALLOW_PRIVATE", help="Let audio URLs reach loopback/private/link-local addresses"),
    audio_url_timeout: float = _opt(10.0, "--audio_url_timeout", env="AUDIO_URL_TIMEOUT", help="Seconds to download a reference-audio URL", min=0.1),
    ray: bool = _opt(False, "--ray", env="RAY", help="Serve through Ray Serve: --replicas copies of this app behind Ray's proxy (pip install 'flashtts[ray]'; docs/scaling.md)", rich_help_panel=_SCALE),
    replicas: int = _opt(2, "--replicas", env="REPLICAS", help="Ray Serve replicas (each loads the engine; one per GPU with --ray_num_gpus 1)", min=1, rich_help_panel=_SCALE),
    max_replicas: Optional[int] = _opt(None, "--max_replicas", env="MAX_REPLICAS", help="Autoscale between --replicas and this many on ongoing requests (Ray's autoscaler)", min=1, rich_help_panel=_SCALE),
    ray_max_ongoing: int = _opt(16, "--ray_max_ongoing", env="RAY_MAX_ONGOING", help="Requests one replica serves at once (Ray's max_ongoing_requests)", min=1, rich_help_panel=_SCALE),
    ray_max_queued: int = _opt(64, "--ray_max_queued", env="RAY_MAX_QUEUED", help="Requests waiting for a replica; beyond it Ray answers 503 (max_queued_requests)", min=1, rich_help_panel=_SCALE),
    ray_num_cpus: float = _opt(1.0, "--ray_num_cpus", env="RAY_NUM_CPUS", help="CPUs reserved per replica", min=0.0, rich_help_panel=_SCALE),
    ray_num_gpus: float = _opt(0.0, "--ray_num_gpus", env="RAY_NUM_GPUS", help="GPUs per replica (1: one replica per GPU)", min=0.0, rich_help_panel=_SCALE),
    ray_address: Optional[str] = _opt(None, "--ray_address", env="RAY_ADDRESS", help="Join this Ray cluster (e.g. auto) instead of starting a local one on loopback", rich_help_panel=_SCALE),
    engine_opt: List[str] = _opt([], "--engine_opt", env="ENGINE_OPT", help="Engine-specific key=value option; repeatable"),
    log_level: str = _opt("info", "--log_level", env="LOG_LEVEL", help="debug | info | warning | error"),
    compat: List[str] = _opt([], "--compat", env="COMPAT", help="Compatibility API groups to mount (docs/compat.md): qwen_fastapi, selfhost, streaming, cosyvoice; repeat or comma-separate; all (default) or none", rich_help_panel=_COMPAT),
    result_cache_mb: float = _opt(0.0, "--result_cache_mb", env="RESULT_CACHE_MB", help="LRU cache of the compatibility routes' complete answers, keyed by text, voice and options (MiB; 0: off)", min=0.0, rich_help_panel=_COMPAT),
    gpu: Optional[str] = _opt(None, "--gpu", env="GPU", help="CUDA devices, e.g. 0,1: one engine replica per device (Qwen3-TTS FastAPI's --gpu)", rich_help_panel=_COMPAT),
    workers: int = _opt(1, "--workers", env="WORKERS", help="Engine replicas, spread round-robin over --gpu (or on --device); segments go to the least busy", min=1, rich_help_panel=_COMPAT),
    tokenizer_device: Optional[str] = _opt(None, "--tokenizer_device", env="TOKENIZER_DEVICE", help="FlashTTS option; accepted, not used (engines use --device)", rich_help_panel=_COMPAT),
    detokenizer_device: Optional[str] = _opt(None, "--detokenizer_device", env="DETOKENIZER_DEVICE", help="FlashTTS option; accepted, not used (engines use --device)", rich_help_panel=_COMPAT),
    llm_attn_implementation: Optional[str] = _opt(None, "--llm_attn_implementation", env="LLM_ATTN_IMPLEMENTATION", help="FlashTTS option: engine option attn (sdpa | eager | flash_attention_2)", rich_help_panel=_COMPAT),
    llm_gpu_memory_utilization: Optional[float] = _opt(None, "--llm_gpu_memory_utilization", env="LLM_GPU_MEMORY_UTILIZATION", help="FlashTTS option: engine option gpu_memory_utilization (vLLM backend)", rich_help_panel=_COMPAT),
    llm_batch_size: Optional[int] = _opt(None, "--llm_batch_size", env="LLM_BATCH_SIZE", help="FlashTTS option: same as --batch_size", min=1, rich_help_panel=_COMPAT),
    max_length: Optional[int] = _opt(None, "--max_length", env="MAX_LENGTH", help="FlashTTS option; accepted, not used (cap output per request)", rich_help_panel=_COMPAT),
    cache_implementation: Optional[str] = _opt(None, "--cache_implementation", env="CACHE_IMPLEMENTATION", help="FlashTTS option; accepted, not used", rich_help_panel=_COMPAT),
    snac_path: Optional[str] = _opt(None, "--snac_path", env="SNAC_PATH", help="FlashTTS option (OrpheusTTS); accepted, not used", rich_help_panel=_COMPAT),
    wav2vec_attn_implementation: Optional[str] = _opt(None, "--wav2vec_attn_implementation", env="WAV2VEC_ATTN_IMPLEMENTATION", help="FlashTTS option (Spark-TTS); accepted, not used", rich_help_panel=_COMPAT),
    strict_instructions: bool = _opt(False, "--strict_instructions", env="STRICT_INSTRUCTIONS", help="Refuse (400) instructions the engine cannot follow; by default they are ignored and the answer says so in X-Instructions-Ignored: true", rich_help_panel=_COMPAT),
    revision: Optional[str] = _opt(None, "--revision", env="REVISION", help="Hub revision (branch, tag or commit) when --model_path is a Hugging Face Hub id such as Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"),
    open_listings: bool = _opt(False, "--open_listings", env="OPEN_LISTINGS", help="With --api_key, let GET /v1/models, /v1/audio/models and /v1/audio/voices answer without a key (Open WebUI lists voices without sending its key; docs/clients.md)", rich_help_panel=_COMPAT),
) -> None:
    """Serve the HTTP API (and the web UI at /)."""
    import uvicorn

    from flashtts.app import create_app

    keys = tuple(k.strip() for item in api_key for k in item.split(",") if k.strip())
    config = ServerConfig(
        engine=engine,
        engine_config=_engine_config(model_path, backend, device, dtype, batch_size, wait_timeout, seed, engine_opt,
                                     revision),
        role_dir=role_dir, api_keys=keys, host=host, port=port, queue_limit=queue_limit,
        request_timeout=request_timeout, length_threshold=length_threshold, window_size=window_size,
        limits=Limits(max_text_chars=max_text_chars, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                      max_body_bytes=int(max_body_mb * 1024 * 1024), max_reference_seconds=max_reference_seconds,
                      max_streams_per_key=max_streams_per_key, send_timeout=send_timeout),
        audio_urls=AudioURLPolicy(enabled=allow_audio_urls, allow_private=audio_url_allow_private,
                                  timeout=audio_url_timeout,
                                  hosts=tuple(h.strip().lower() for item in audio_url_hosts for h in item.split(",")
                                              if h.strip())),
        log_level=log_level, strict_instructions=strict_instructions, open_listings=open_listings,
    )
    _check_engine(engine)
    from flashtts.compat_options import apply_launch_options

    try:
        config, notes = apply_launch_options(config, compat=compat, gpu=gpu, workers=workers,
                                             result_cache_mb=result_cache_mb, flashtts=dict(
            tokenizer_device=tokenizer_device, detokenizer_device=detokenizer_device,
            llm_attn_implementation=llm_attn_implementation, llm_gpu_memory_utilization=llm_gpu_memory_utilization,
            llm_batch_size=llm_batch_size, max_length=max_length, cache_implementation=cache_implementation,
            snac_path=snac_path, wav2vec_attn_implementation=wav2vec_attn_implementation))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for note in notes:
        logging.getLogger("flashtts.cli").info(note)
    if ray:
        from flashtts.ray_serve import RaySettings
        from flashtts.ray_serve import run as ray_run

        ray_run(config, RaySettings(replicas=replicas, max_replicas=max_replicas, max_ongoing_requests=ray_max_ongoing,
                                    max_queued_requests=ray_max_queued, num_cpus=ray_num_cpus,
                                    num_gpus=ray_num_gpus, address=ray_address))
        return
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=5)


def _check_engine(name: str) -> None:
    from flashtts.engine_registry import UnknownEngineError, engine_class

    try:
        engine_class(name)
    except UnknownEngineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    except ImportError as exc:
        typer.echo(f"error: engine '{name}' is installed but cannot be imported: {exc}", err=True)
        raise typer.Exit(2)


@app.command()
def synth(
    text: str = typer.Argument(..., help="Text to speak ('-' reads standard input)"),
    output: Path = typer.Option(Path("speech.wav"), "--output", "-o", help="Output file; its suffix picks the format"),
    voice: Optional[str] = typer.Option(None, "--voice", help="Built-in voice or role (engine default when omitted)"),
    engine: str = _opt("piper", "--engine", env="ENGINE", help="Engine name"),
    model_path: Optional[str] = _opt(None, "--model_path", env="MODEL_PATH", help="Model/checkpoint path"),
    backend: str = _opt("torch", "--backend", env="BACKEND", help="torch | vllm"),
    device: str = _opt("auto", "--device", env="DEVICE", help="cpu | cuda | auto"),
    dtype: str = _opt("auto", "--dtype", env="DTYPE", help="auto | float32 | bfloat16"),
    role_dir: Path = _opt(Path("roles"), "--role_dir", env="ROLE_DIR", help="Speaker registry directory"),
    instructions: Optional[str] = typer.Option(None, "--instructions", help="Style instructions / voice description"),
    language: Optional[str] = typer.Option(None, "--language"),
    speed: Optional[float] = typer.Option(None, "--speed", min=0.25, max=4.0),
    seed: Optional[int] = _opt(None, "--seed", env="SEED", help="Sampling seed"),
    engine_opt: List[str] = _opt([], "--engine_opt", env="ENGINE_OPT", help="Engine-specific key=value"),
) -> None:
    """Synthesise text to a file with the same engine code the server uses."""
    from flashtts.engine_registry import create_engine
    from flashtts.errors import to_api_error
    from flashtts.metrics import Metrics
    from flashtts.paths import default_roles_dir
    from flashtts.registry import SpeakerRegistry
    from flashtts.serving import SpeechService, Utterance

    _check_engine(engine)
    if text == "-":
        text = sys.stdin.read()
    fmt = output.suffix.lstrip(".").lower() or "wav"
    config = ServerConfig(engine=engine, role_dir=role_dir,
                          engine_config=_engine_config(model_path, backend, device, dtype, 1, 0.0, seed, engine_opt))

    async def run() -> float:
        metrics = Metrics()
        eng = create_engine(engine, config.engine_config, metrics)
        await eng.start()
        try:
            service = SpeechService(config, eng, SpeakerRegistry(role_dir, defaults=default_roles_dir()), metrics)
            chosen = service.resolve_voice(voice or eng.info.default_voice or "default", "voice")
            service.check_text(text, "text")
            plan = service.plan("synth", [Utterance(text, chosen, instructions=instructions, speed=speed, language=language)],
                                response_format=fmt, options=GenerationOptions(seed=seed))
            data, seconds = await service.complete(plan)
            output.write_bytes(data)
            return seconds
        finally:
            await eng.stop()

    try:
        seconds = asyncio.run(run())
    except Exception as exc:  # show the same message the HTTP API would
        typer.echo(f"error: {to_api_error(exc).message}", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {output} ({seconds:.2f} s of audio)")


@app.command()
def engines(json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List installed engines and what each can do."""
    from flashtts.engine_registry import available

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
    from flashtts.paths import default_roles_dir
    from flashtts.registry import SpeakerRegistry

    return SpeakerRegistry(role_dir, defaults=default_roles_dir())


@roles_app.command("list")
def roles_list(role_dir: Path = _opt(Path("roles"), "--role_dir", env="ROLE_DIR", help="Registry directory")) -> None:
    """List roles."""
    for role in _registry(role_dir).list():
        kind = "clone" if role.has_audio else f"voice={role.voice or 'default'}"
        typer.echo(f"{role.name}\t{kind}\t{role.reference_text or role.instructions or ''}")


@roles_app.command("add")
def roles_add(
    name: str = typer.Argument(...),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Reference clip (wav/mp3/m4a/ogg/flac)"),
    reference_text: Optional[str] = typer.Option(None, "--reference_text", "--reference-text"),
    voice: Optional[str] = typer.Option(None, "--voice", help="Built-in voice the role speaks with"),
    instructions: Optional[str] = typer.Option(None, "--instructions"),
    speed: Optional[float] = typer.Option(None, "--speed", min=0.25, max=4.0),
    language: Optional[str] = typer.Option(None, "--language"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    role_dir: Path = _opt(Path("roles"), "--role_dir", env="ROLE_DIR", help="Registry directory"),
) -> None:
    """Add a role from a clip or a voice preset."""
    from flashtts.audio import AudioDecodeError, decode
    from flashtts.registry import Role, RoleError, RoleExistsError

    samples = None
    rate = 24000
    if audio is not None:
        try:
            samples = decode(audio.read_bytes(), rate)
        except (OSError, AudioDecodeError) as exc:
            typer.echo(f"error: {audio}: {exc}", err=True)
            raise typer.Exit(1)
    try:
        _registry(role_dir).add(Role(name=name, voice=voice, reference_text=reference_text, instructions=instructions,
                                     speed=speed, language=language), samples, rate if samples is not None else None,
                                overwrite=overwrite)
    except (RoleError, RoleExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"added role {name}")


@roles_app.command("delete")
def roles_delete(name: str = typer.Argument(...),
                 role_dir: Path = _opt(Path("roles"), "--role_dir", env="ROLE_DIR", help="Registry directory")) -> None:
    """Delete a role."""
    from flashtts.registry import RoleError, RoleNotFoundError

    try:
        _registry(role_dir).delete(name)
    except (RoleError, RoleNotFoundError) as exc:
        typer.echo(f"error: no such role: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted role {name}")


@app.command()
def download(
    name: str = typer.Argument(..., help="Hugging Face Hub model id, e.g. Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"),
    revision: Optional[str] = _opt(None, "--revision", env="REVISION", help="Branch, tag or commit"),
) -> None:
    """Fetch a Hub model into the Hugging Face cache (HF_HOME) with progress bars; print its folder."""
    from flashtts.hub import ModelNotFoundError, cache_dir, download as fetch, is_repo_id

    if not is_repo_id(name):
        typer.echo(f"error: '{name}' is not a Hub model id (owner/name)", err=True)
        raise typer.Exit(2)
    typer.echo(f"fetching {name} into {cache_dir()}", err=True)
    try:
        path = fetch(name, revision)
    except ModelNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(str(path))


@dev_app.command("make-checkpoint")
def make_checkpoint_cmd(
    out: Path = typer.Argument(..., help="Directory to write the checkpoint into"),
    kind: str = typer.Option("custom_voice", "--kind", help="custom_voice | voice_design | base"),
    size: str = typer.Option("tiny", "--size", help="tiny | 0.6b | 1.7b"),
    seed: int = typer.Option(0, "--seed", help="Random-weight seed"),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="qwen.tiktoken for full sizes (default: the dashscope wheel's)"),
    device: str = typer.Option("cpu", "--device"),
    dtype: str = typer.Option("float32", "--dtype"),
    no_eos: bool = typer.Option(False, "--no-eos", "--no_eos", help="Never emit end-of-speech (fixed-length benchmarks)"),
) -> None:
    """Build a random-weight Qwen3-TTS checkpoint of the real architecture (needs the qwen extra)."""
    try:
        from engines.qwen3.checkpoint import make_checkpoint
    except ImportError as exc:
        typer.echo(f"error: the Qwen3 engine is not installed ({exc}); pip install 'flashtts[qwen]'", err=True)
        raise typer.Exit(2)
    path = make_checkpoint(kind, size, out, seed=seed, tokenizer=tokenizer, device=device, dtype=dtype, no_eos=no_eos)
    typer.echo(f"wrote {kind} {size} checkpoint to {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
