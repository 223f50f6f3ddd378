"""``flashtts serve`` options that come from the documents flashtts stands in for.

* FlashTTS's own server options (``--tokenizer_device``, ``--llm_attn_implementation``, ...):
  mapped onto flashtts settings or engine options where they mean something for our engines,
  otherwise accepted with a logged note saying why they change nothing.
* Qwen3-TTS FastAPI's ``--gpu 0,1 --workers N`` (engine replicas, :mod:`flashtts.serving.replicas`).
* ``--compat`` (which compatibility route groups to mount) and ``--result_cache_mb``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flashtts.config.settings import ServerConfig

ENGINE_OPTIONS = {
    "llm_attn_implementation": "attn",
    "llm_gpu_memory_utilization": "gpu_memory_utilization",
}
"""FlashTTS option -> engine option (``EngineConfig.extra``; an explicit ``--engine_opt`` wins)."""

NOT_USED = {
    "tokenizer_device": "flashtts engines run their speech tokenizer on --device",
    "detokenizer_device": "flashtts engines run their codec decoder on --device",
    "max_length": "flashtts engines size their caches per request; cap output with max_new_tokens/max_tokens "
                  "per request",
    "cache_implementation": "flashtts engines manage their own KV caches",
    "snac_path": "only OrpheusTTS uses a SNAC codec; no flashtts engine does",
    "wav2vec_attn_implementation": "only Spark-TTS has a wav2vec module",
}
"""FlashTTS options accepted for compatibility that have no effect here, and why."""

FLASHTTS_OPTIONS = (*ENGINE_OPTIONS, "llm_batch_size", *NOT_USED)

COMPAT_GROUPS = ("qwen_fastapi", "selfhost", "streaming", "cosyvoice", "kokoro_fastapi")
"""``--compat``'s groups: Qwen3-TTS FastAPI deployment, Qwen3-TTS self-hosting plan, Qwen-TTS streaming
service, CosyVoice (their routers: :mod:`flashtts.http.apis.compat`)."""


def parse_groups(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``--compat`` values (repeatable, comma-separated; ``all`` or ``none``) -> group names (None: all)."""
    names = [n.strip().lower() for v in (values or []) for n in v.split(",") if n.strip()]
    if not names or names == ["all"]:
        return None
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in COMPAT_GROUPS]
    if unknown or "none" in names or "all" in names:
        bad = ", ".join(unknown) or "none/all mixed with group names"
        raise ValueError(f"--compat: unknown group(s) {bad}; choose from {', '.join(COMPAT_GROUPS)}, or all, "
                         "or none")
    return tuple(dict.fromkeys(names))


def parse_gpus(value: str | None) -> tuple[int, ...]:
    """``"0,1"`` -> ``(0, 1)``; raises ValueError with a message fit for the command line."""
    if value is None or not value.strip():
        return ()
    out: list[int] = []
    for part in value.split(","):
        part = part.strip().removeprefix("cuda:")
        if not part.isdigit():
            raise ValueError(f"--gpu wants CUDA device numbers separated by commas (like 0 or 2,3), got {value!r}")
        if int(part) not in out:
            out.append(int(part))
    return tuple(out)


def check_gpus(gpus: tuple[int, ...]) -> None:
    """Refuse ``--gpu`` devices this process cannot see (clear message, nothing silently ignored)."""
    if not gpus:
        return
    try:
        import torch
    except ImportError:
        raise ValueError(f"--gpu {','.join(map(str, gpus))}: PyTorch is not installed, so no CUDA device can be "
                         "used; run without --gpu (use --device, and --workers N for N engine replicas)") from None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError(f"--gpu {','.join(map(str, gpus))}: no CUDA device is visible to this process; run without "
                         "--gpu (use --device, and --workers N for N engine replicas)")
    missing = [g for g in gpus if g >= count]
    if missing:
        raise ValueError(f"--gpu: device(s) {', '.join(map(str, missing))} do not exist; this process sees "
                         f"{count} CUDA device(s): {', '.join(map(str, range(count)))}")

def apply_launch_options(config: ServerConfig, *, compat: list[str] | None = None, gpu: str | None = None,
                         workers: int = 1, result_cache_mb: float = 0.0,
                         flashtts: dict[str, Any] | None = None) -> tuple[ServerConfig, list[str]]:
    """``config`` with these options applied, and notes to log; ValueError for bad values."""
    notes: list[str] = []
    engine_config = config.engine_config
    extra = dict(engine_config.extra)
    for option, value in (flashtts or {}).items():
        if value is None:
            continue
        if option not in FLASHTTS_OPTIONS:
            raise ValueError(f"unknown FlashTTS option --{option}")
        if option == "llm_batch_size":
            engine_config = replace(engine_config, batch_size=int(value))
            notes.append(f"--llm_batch_size {value}: the engine decodes up to {value} requests together "
                         "(same as --batch_size)")
        elif option in ENGINE_OPTIONS:
            key = ENGINE_OPTIONS[option]
            if key in extra:
                notes.append(f"--{option} {value} ignored: --engine_opt {key}={extra[key]} was given")
            else:
                extra[key] = str(value)
                notes.append(f"--{option} {value}: engine option {key}={value} (engines without it ignore it)")
        else:
            notes.append(f"--{option} {value} accepted for FlashTTS compatibility and not used: {NOT_USED[option]}")
    gpus = parse_gpus(gpu)
    check_gpus(gpus)
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    if result_cache_mb < 0:
        raise ValueError("--result_cache_mb must be 0 (off) or more")
    groups = parse_groups(compat)
    if gpus or workers > 1:
        count = max(workers, len(gpus))
        where = f"on {', '.join(f'cuda:{g}' for g in gpus)}" if gpus else f"on {engine_config.device}"
        notes.append(f"{count} engine replicas {where}; each request segment goes to the least busy one")
    engine_config = replace(engine_config, extra=extra)
    return replace(config, engine_config=engine_config, compat=groups, gpu=gpus, workers=workers,
                   result_cache_mb=result_cache_mb), notes
