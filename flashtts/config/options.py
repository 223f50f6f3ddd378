"""Every ``flashtts`` option, defined once.

Each field of :class:`ServeOptions` is one option: its type and help text live here, and from them
come the command line (``--name`` and a dashed alias), the ``FLASHTTS_<NAME>`` environment variable,
and the README's table of options (``flashtts dev options-table``; a test fails when the README and
this file disagree). A default is written once, in the settings the code reads
(:class:`~flashtts.config.settings.ServerConfig` and its parts, :class:`~flashtts.engine.EngineConfig`,
:class:`~flashtts.config.settings.RaySettings`), and referenced here; a test checks that the options'
defaults build exactly those settings. :meth:`ServeOptions.server_config` turns the values into the
:class:`~flashtts.config.settings.ServerConfig` the app reads. ``serve`` takes every option; ``synth`` and the
``roles`` commands take the ones they need from here (:func:`typer_signature`, :func:`serve_option`).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashtts.config.settings import AudioURLPolicy, Limits, RaySettings, ServerConfig
from flashtts.engine import EngineConfig, GenerationOptions

MIB = 1024 * 1024
SCALE = "Scale-out (Ray Serve, docs/scaling.md)"
COMPAT = "Compatibility (docs/compat.md)"
LIMITS = "Limits and safety (docs/robustness.md)"

# the settings whose defaults the options take (each default is written once, there)
S, L, U, E, R = ServerConfig, Limits, AudioURLPolicy, EngineConfig, RaySettings


@dataclass(frozen=True)
class OptionSpec:
    """How one field appears on the command line and in the docs."""

    help: str
    aliases: tuple[str, ...] = ()
    panel: str | None = None
    min: float | None = None
    max: float | None = None


def option(default: Any, help: str, *aliases: str, panel: str | None = None, min: float | None = None,
           max: float | None = None) -> Any:
    """A dataclass field that is a ``flashtts serve`` option."""
    spec = OptionSpec(help, aliases, panel, min, max)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"cli": spec})
    return field(default=default, metadata={"cli": spec})


@dataclass
class ServeOptions:
    """The options of ``flashtts serve`` (each also a ``FLASHTTS_<NAME>`` environment variable)."""

    # ---- engine ------------------------------------------------------------------------------
    engine: str = option(S.engine, "Engine name (see `flashtts engines`)")
    model_path: list[str] = option(
        [], "Model/checkpoint path or Hub id (engine default when omitted); Piper: a voice file, folder or catalogue "
        "name such as en_GB-alba-medium, repeatable to serve several voices (the first is the default); --model "
        "(Qwen3-TTS FastAPI) and --model_dir (CosyVoice) are aliases", "--model", "--model_dir")
    backend: str = option(E.backend, "LLM backend for engines that run one: torch | static | vllm")
    device: str = option(E.device, "cpu | cuda | cuda:N | auto", "--llm_device")
    dtype: str = option(E.dtype, "auto | float32 | bfloat16 | float16", "--torch_dtype")
    batch_size: int = option(E.batch_size, "Most requests (or sentences) decoded together", min=1)
    wait_timeout: float = option(E.wait_timeout, "Seconds to gather a batch after its first request", min=0.0)
    seed: int | None = option(E.seed, "Default sampling seed for requests that give none")
    engine_opt: list[str] = option([], "Engine-specific key=value option; repeatable")
    revision: str | None = option(E.revision, "Hub revision (branch, tag or commit) when --model_path is a Hugging "
                                  "Face Hub id such as Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice")
    voice_cache_mb: float = option(E.voice_cache_mb, "Most MiB of voice weights loaded at once (Piper loads a voice on "
                                   "first use): the least recently used idle voice is unloaded to make room (0: no "
                                   "limit)", min=0.0)
    voice_idle_timeout: float = option(E.voice_idle_timeout, "Seconds a loaded voice other than the default stays "
                                       "loaded unused (0: until --voice_cache_mb needs its room)", min=0.0)
    # ---- server ------------------------------------------------------------------------------
    role_dir: Path = option(S.role_dir, "Speaker registry directory (created and seeded with the default "
                            "roles when missing)")
    api_key: list[str] = option([], "Require 'Authorization: Bearer KEY' (or 'X-API-Key: KEY'); repeat for "
                                "several keys (env: comma-separated)")
    host: str = option(S.host, "Address to listen on")
    port: int = option(S.port, "Port to listen on")
    queue_limit: int = option(S.queue_limit, "Requests admitted at once; beyond it 429 with Retry-After", min=1)
    request_timeout: float = option(S.request_timeout, "Seconds a request may take in all", min=0.1)
    length_threshold: int = option(S.length_threshold, "Split texts longer than this (characters)", min=1)
    window_size: int = option(S.window_size, "Target segment length when splitting", min=1)
    log_level: str = option(S.log_level, "debug | info | warning | error")
    wyoming_port: int | None = option(S.wyoming_port, "Also serve Home Assistant's Wyoming protocol (TTS) on this TCP "
                                      "port, sharing the engine and limits; no authentication", min=1, max=65535)
    wyoming_host: str | None = option(S.wyoming_host, "Address of the Wyoming listener (default: --host)")
    shutdown_grace: float = option(S.shutdown_grace, "Seconds after SIGTERM (or Ctrl+C) that streams in flight may "
                                   "run on while new requests get 503 with Retry-After and /ready 503; then the rest "
                                   "is aborted and the server exits 0 (a second signal: at once)", min=0.0)
    idle_unload: float = option(S.idle_unload, "Free the engine's weights (and GPU memory) after this many seconds "
                                "without a request; the next request reloads them (0: never)", min=0.0)
    # ---- limits and safety -------------------------------------------------------------------
    max_text_chars: int = option(L.max_text_chars, "Longest text accepted", min=1, panel=LIMITS)
    max_upload_mb: float = option(L.max_upload_bytes / MIB, "Largest audio upload (MiB)", min=0.01, panel=LIMITS)
    max_body_mb: float = option(L.max_body_bytes / MIB, "Largest request body of any route (MiB); 413 beyond",
                                min=0.01, panel=LIMITS)
    max_reference_seconds: float = option(L.max_reference_seconds, "Longest reference clip (seconds); decoding stops "
                                          "past it", min=1.0, panel=LIMITS)
    send_timeout: float = option(L.send_timeout, "Seconds one response write may wait for a client that stopped "
                                 "reading; then the response ends (0: never)", min=0.0, panel=LIMITS)
    max_streams_per_key: int = option(L.max_streams_per_key, "Streams one client (its API key, else its address) may "
                                      "have open at once, draining ones included (0: no limit)",
                                      "--max_streams_per_client", min=0, panel=LIMITS)
    stream_buffer_mb: float = option(L.stream_buffer_bytes / MIB, "Encoded audio one stream may hold for a slow "
                                     "reader (MiB); a stream generated into it frees its slot while the client "
                                     "drains it", min=0.01, panel=LIMITS)
    header_timeout: float = option(L.header_timeout, "Seconds a connection may take to send a request's headers; then "
                                   "it is closed (slowloris; 0: never)", min=0.0, panel=LIMITS)
    idle_timeout: float = option(L.idle_timeout, "Seconds an idle keep-alive connection stays open",
                                 min=1.0, panel=LIMITS)
    max_live_sessions: int = option(L.max_live_sessions, "Live sessions (WebSocket /v1/audio/speech/stream sockets, "
                                    "Wyoming synthesize-start streams) open at once; beyond it too_many_sessions (0: "
                                    "no limit)", min=0, panel=LIMITS)
    max_live_sessions_per_client: int = option(L.max_live_sessions_per_client, "Live sessions one client (its API "
                                               "key, else its address) may have open at once (0: no limit)", min=0,
                                               panel=LIMITS)
    live_idle_timeout: float = option(L.live_idle_timeout, "Seconds a live session may wait for text (with nothing "
                                      "left to speak) before it ends with idle_timeout; an idle session holds no "
                                      "--queue_limit slot", min=0.1, panel=LIMITS)
    allowed_hosts: list[str] = option([], "Host names the server answers to ('*' any, '*.example.com'); default: "
                                      "loopback names and --host (any host when --host is 0.0.0.0 or ::); repeat "
                                      "or comma-separate", panel=LIMITS)
    cors_origins: list[str] = option([], "Browser origins allowed to call the API (CORS), e.g. "
                                     "https://app.example; other origins' POSTs get 403; repeat or comma-separate",
                                     panel=LIMITS)
    allow_audio_urls: bool = option(U.enabled, "Accept reference audio given as an http(s) URL (hosts from "
                                    "--audio_url_hosts only)", panel=LIMITS)
    audio_url_hosts: list[str] = option([], "Hosts reference-audio URLs may name ('*.example.com' for subdomains, "
                                        "host:port for another port than 80/443); repeat or comma-separate",
                                        panel=LIMITS)
    audio_url_allow_private: bool = option(U.allow_private, "Let audio URLs reach loopback/private/link-local "
                                           "addresses", panel=LIMITS)
    audio_url_timeout: float = option(U.timeout, "Seconds to download a reference-audio URL", min=0.1, panel=LIMITS)
    # ---- scale-out ---------------------------------------------------------------------------
    ray: bool = option(False, "Serve through Ray Serve: --replicas copies of this app behind Ray's proxy "
                       "(pip install 'flashtts[ray]'; docs/scaling.md)", panel=SCALE)
    replicas: int = option(R.replicas, "Ray Serve replicas (each loads the engine; one per GPU with --ray_num_gpus 1)",
                           min=1, panel=SCALE)
    max_replicas: int | None = option(R.max_replicas, "Autoscale between --replicas and this many on ongoing requests "
                                         "(Ray's autoscaler)", min=1, panel=SCALE)
    ray_max_ongoing: int = option(R.max_ongoing_requests, "Requests one replica serves at once (Ray's "
                                  "max_ongoing_requests)", min=1, panel=SCALE)
    ray_max_queued: int = option(R.max_queued_requests, "Requests waiting for a replica; beyond it Ray answers 503 "
                                 "(max_queued_requests)", min=1, panel=SCALE)
    ray_num_cpus: float = option(R.num_cpus, "CPUs reserved per replica", min=0.0, panel=SCALE)
    ray_num_gpus: float = option(R.num_gpus, "GPUs per replica (1: one replica per GPU)", min=0.0, panel=SCALE)
    ray_address: str | None = option(R.address, "Join this Ray cluster (e.g. auto) instead of starting a local one "
                                        "on loopback", panel=SCALE)
    # ---- compatibility -----------------------------------------------------------------------
    strict_instructions: bool = option(S.strict_instructions, "Refuse (400) instructions the engine cannot follow; by "
                                       "default they are ignored and the answer says so in X-Instructions-Ignored: "
                                       "true", panel=COMPAT)
    lexicon: str | None = option(None, "Pronunciation lexicon file (WORD = /IPA/ respelling a line; docs/ssml.md): "
                                 "read at start, again when it changes", panel=COMPAT)
    open_listings: bool = option(S.open_listings, "With --api_key, let GET /v1/models, /v1/audio/models and "
                                 "/v1/audio/voices answer without a key (Open WebUI lists voices without sending its "
                                 "key; docs/clients.md)", panel=COMPAT)
    compat: list[str] = option([], "Compatibility API groups to mount (docs/compat.md): qwen_fastapi, selfhost, "
                               "streaming, cosyvoice, kokoro_fastapi; repeat or comma-separate; all (default) or none",
                               panel=COMPAT)
    result_cache_mb: float = option(S.result_cache_mb, "LRU cache of the compatibility routes' complete answers, "
                                    "keyed by text, voice and options (MiB; 0: off)", min=0.0, panel=COMPAT)
    gpu: str | None = option(None, "CUDA devices, e.g. 0,1: one engine replica per device (Qwen3-TTS "
                                "FastAPI's --gpu)", panel=COMPAT)
    workers: int = option(S.workers, "Engine replicas, spread round-robin over --gpu (or on --device); segments go to "
                          "the least busy", min=1, panel=COMPAT)
    tokenizer_device: str | None = option(None, "FlashTTS option; accepted, not used (engines use --device)",
                                             panel=COMPAT)
    detokenizer_device: str | None = option(None, "FlashTTS option; accepted, not used (engines use --device)",
                                               panel=COMPAT)
    llm_attn_implementation: str | None = option(None, "FlashTTS option: engine option attn (sdpa | eager | "
                                                    "flash_attention_2)", panel=COMPAT)
    llm_gpu_memory_utilization: float | None = option(None, "FlashTTS option: engine option "
                                                         "gpu_memory_utilization (vLLM backend)", panel=COMPAT)
    llm_batch_size: int | None = option(None, "FlashTTS option: same as --batch_size", min=1, panel=COMPAT)
    max_length: int | None = option(None, "FlashTTS option; accepted, not used (cap output per request)",
                                       panel=COMPAT)
    cache_implementation: str | None = option(None, "FlashTTS option; accepted, not used", panel=COMPAT)
    snac_path: str | None = option(None, "FlashTTS option (OrpheusTTS); accepted, not used", panel=COMPAT)
    wav2vec_attn_implementation: str | None = option(None, "FlashTTS option (Spark-TTS); accepted, not used",
                                                        panel=COMPAT)

    # ---- what the values mean ----------------------------------------------------------------
    def engine_config(self) -> EngineConfig:
        paths = tuple(p for p in self.model_path if p)
        return EngineConfig(model_path=paths[0] if paths else None, model_paths=paths, revision=self.revision,
                            voice_cache_mb=self.voice_cache_mb, voice_idle_timeout=self.voice_idle_timeout,
                            backend=self.backend, device=self.device, dtype=self.dtype,
                            batch_size=self.batch_size, wait_timeout=self.wait_timeout, seed=self.seed,
                            defaults=GenerationOptions(seed=self.seed), extra=parse_engine_opts(self.engine_opt))

    def server_config(self) -> ServerConfig:
        """The settings the app reads (before the compatibility options are applied)."""
        return ServerConfig(
            engine=self.engine, engine_config=self.engine_config(), role_dir=self.role_dir,
            api_keys=split_values(self.api_key), host=self.host, port=self.port, queue_limit=self.queue_limit,
            request_timeout=self.request_timeout, length_threshold=self.length_threshold,
            window_size=self.window_size,
            limits=Limits(max_text_chars=self.max_text_chars, max_upload_bytes=int(self.max_upload_mb * MIB),
                          max_body_bytes=int(self.max_body_mb * MIB),
                          max_reference_seconds=self.max_reference_seconds,
                          max_streams_per_key=self.max_streams_per_key, send_timeout=self.send_timeout,
                          stream_buffer_bytes=int(self.stream_buffer_mb * MIB), header_timeout=self.header_timeout,
                          idle_timeout=self.idle_timeout, max_live_sessions=self.max_live_sessions,
                          max_live_sessions_per_client=self.max_live_sessions_per_client,
                          live_idle_timeout=self.live_idle_timeout),
            audio_urls=AudioURLPolicy(enabled=self.allow_audio_urls, allow_private=self.audio_url_allow_private,
                                      timeout=self.audio_url_timeout,
                                      hosts=tuple(h.lower() for h in split_values(self.audio_url_hosts))),
            allowed_hosts=split_values(self.allowed_hosts), cors_origins=split_values(self.cors_origins),
            log_level=self.log_level, wyoming_port=self.wyoming_port, wyoming_host=self.wyoming_host,
            shutdown_grace=self.shutdown_grace, idle_unload=self.idle_unload,
            strict_instructions=self.strict_instructions, open_listings=self.open_listings,
            lexicon=Path(self.lexicon) if self.lexicon else None,
        )

    def ray_settings(self) -> RaySettings:
        """Ray Serve's settings (``--ray``)."""
        return RaySettings(replicas=self.replicas, max_replicas=self.max_replicas,
                           max_ongoing_requests=self.ray_max_ongoing, max_queued_requests=self.ray_max_queued,
                           num_cpus=self.ray_num_cpus, num_gpus=self.ray_num_gpus, address=self.ray_address,
                           graceful_shutdown_timeout_s=self.shutdown_grace)

    def flashtts_options(self) -> dict[str, Any]:
        """FlashTTS's own server options (see :mod:`flashtts.config.compat`)."""
        from flashtts.config.compat import FLASHTTS_OPTIONS

        return {name: getattr(self, name) for name in FLASHTTS_OPTIONS}


def split_values(items: list[str]) -> tuple[str, ...]:
    """Values given repeatedly and/or comma-separated, in order, without blanks or repeats."""
    return tuple(dict.fromkeys(v.strip() for item in items for v in item.split(",") if v.strip()))


def parse_engine_opts(pairs: list[str]) -> dict[str, str]:
    """``key=value`` pairs; ValueError for anything else."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--engine_opt wants key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


# ---- the command line and the docs, from the fields --------------------------------------------
def flags(name: str, spec: OptionSpec) -> list[str]:
    """``--name`` and its dashed alias, then the aliases (each with its dashed form)."""
    out: list[str] = []
    for flag in (f"--{name}", *spec.aliases):
        out += [flag, flag.replace("_", "-")] if "_" in flag else [flag]
    return list(dict.fromkeys(out))


def env_var(name: str) -> str:
    return f"FLASHTTS_{name.upper()}"


def fields() -> list[tuple[dataclasses.Field, OptionSpec, Any]]:
    """(field, spec, resolved type) of every option, in definition order."""
    hints = typing.get_type_hints(ServeOptions)
    return [(f, f.metadata["cli"], hints[f.name]) for f in dataclasses.fields(ServeOptions)]


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def serve_option(name: str) -> Any:
    """The Typer option of field ``name`` (its flags, variable, help and bounds), for any command."""
    import typer

    f, spec, _ = next(item for item in fields() if item[0].name == name)
    return typer.Option(_default(f), *flags(f.name, spec), envvar=env_var(f.name), help=spec.help,
                        show_default=True, min=spec.min, max=spec.max, rich_help_panel=spec.panel)


def typer_signature(names: Iterable[str] | None = None, before: Callable[..., Any] | None = None) -> inspect.Signature:
    """The signature Typer reads to build a command: one keyword parameter per field (``names`` of them,
    default all), after the parameters of ``before`` (a command's own arguments and options)."""
    own = list(inspect.signature(before).parameters.values()) if before is not None else []
    wanted = None if names is None else set(names)
    params = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=serve_option(f.name), annotation=hint)
              for f, _, hint in fields() if wanted is None or f.name in wanted]
    if wanted is not None and len(params) != len(wanted):
        raise ValueError(f"not options: {sorted(wanted - {p.name for p in params})}")
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    return inspect.Signature([*own, *params], return_annotation=None)


def options_table() -> str:
    """The README's table of options (Markdown)."""
    rows = ["| option | environment | default | meaning |", "|---|---|---|---|"]
    for f, spec, _ in fields():
        names = ", ".join(f"`{flag}`" for flag in (f"--{f.name}", *spec.aliases))
        default = _default(f)
        shown = "none" if default in (None, [], ()) else f"`{default}`"
        rows.append(f"| {names} | `{env_var(f.name)}` | {shown} | {spec.help.replace('|', '&#124;')} |")
    return "\n".join(rows) + "\n"
