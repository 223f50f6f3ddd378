"""The Qwen3-TTS engine: every kind of 12 Hz checkpoint, continuous batching on one shared model.

* CustomVoice: the checkpoint's preset speakers are the voices; ``instructions`` steer the style
  (not on 0.6B CustomVoice, which the reference code makes ignore them).
* VoiceDesign: ``instructions`` describe the voice; there are no preset voices.
* Base: clones ``request.reference`` (audio + transcript; without a transcript, the speaker
  embedding alone). The clone prompt is computed once per ``reference.cache_key`` and kept in memory
  and on disk in ``reference.cache_dir``.

All model work runs on one :class:`~flashtts.engine.worker.ModelWorker` thread. Frames come from
the generation chosen once at start by ``--backend`` (:mod:`.generation`): ``torch`` batches this
process's decode loop continuously (:mod:`.torch_generation`), ``vllm`` runs the talker in vLLM
(:mod:`.vllm.generation`). Prompts, clone prompts and the codec decoder are shared by both.

Engine options (``--engine_opt key=value``, all optional):

=====================  ======================================================================
``first_chunk_frames``  frames (80 ms each) before the first audio (default 4)
``chunk_frames``        frames per later chunk (default 12)
``chunk_growth``        1: chunks after the first double up to ``chunk_frames`` (first 1, chunk 8:
                        1, 2, 4, 8, 8, ... frames), so a stream that starts early cannot run dry
                        waiting for one large second chunk (default 0)
``decode_context``      reference codes of a cloned voice that start its stream's codec decoder state
                        (default 72, the decoder transformer's attention window); the decoder is
                        streamed: each chunk is decoded once after the state its stream carries
                        (:mod:`.codec_stream`), so streamed chunks == a one-pass decode up to rounding
``conv_context``        of those, the last frames that also run through the upsampling
                        convolutions (default 8; their receptive field is under 6 frames)
``fixed_frames``        generate exactly this many frames per request, ignoring end-of-speech
                        (benchmarks; random weights stop at random points)
``threads``             torch CPU threads (default: half the cores, so the event loop keeps one)
``attn``                the attention kernel of the checkpoint as transformers loads it (``sdpa``,
                        ``eager``, ``flash_attention_2``; default: transformers' choice), used where
                        the reference modules run (prompts, clone prompts); the torch and static
                        decode loops attend through torch's SDPA directly (:mod:`.frame`)
``clone_cache_size``    clone prompts kept in memory (default 256, least recently used dropped)
``kv_cache_gib``        ``--backend vllm`` on CPU: vLLM's KV cache size (``VLLM_CPU_KVCACHE_SPACE``)
``gpu_memory_utilization``  ``--backend vllm`` on a GPU: vLLM's share of GPU memory
``runaway_guard``       cap each segment's frames from its text (default 1; 0 = off; see
                        :mod:`.runaway`: ``runaway_frames_per_char`` 3, ``runaway_frames_per_cjk_char``
                        8, ``runaway_margin_frames`` 40); capped segments count in ``/metrics``
``max_len``             ``--backend static``: talker positions per slot of the preallocated KV
                        cache (default 4096, at most the checkpoint's position table)
``compile``             ``--backend static``: run the step through ``torch.compile(fullgraph=True,
                        dynamic=False)`` (default 0: on 2 CPU cores each bucket compiles for minutes);
                        ``compile_backend`` picks torch.compile's backend (default ``inductor``);
                        ``compile_simdlen`` Inductor's CPU vector width (default 1, scalar code:
                        torch 2.13's vectorised code for this step fails to compile; 0 = torch's)
``cuda_graphs``         ``--backend static`` on CUDA: capture every bucket as a CUDA graph at start
                        (default 1)
``max_text_tokens``     ``--backend static``: text tokens per slot's trailing-text buffer (default
                        256; a longer segment grows it, dropping the CUDA graphs)
``sample_candidates``   ``--backend static``: tokens a sampled row draws among at most (default
                        256: one top-k instead of sorting the vocabulary; a request's ``top_k`` up
                        to it is exact; 0 = the whole vocabulary, as the other backends)
``warmup``              ``--backend static``: compile every bucket at start (default 0; CUDA graphs
                        always warm up)
=====================  ======================================================================

``--backend static``: the torch generation with the graph-ready step of :mod:`.static_step` (one
static-shape function per frame, sampling on the device with counter-based random numbers: a
seeded request samples the same audio alone or in any batch).

``--backend vllm``: the talker runs in vLLM's own engine (``engines/qwen3/vllm``, its scheduler
batches the requests, ``batch_size`` is its ``max_num_seqs``). Without vLLM installed, start fails
with the command that installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from flashtts.engine import (
    Capabilities,
    CapabilityError,
    Engine,
    EngineConfig,
    EngineInfo,
    GenerationOptions,
    ReferenceAudio,
    SynthesisRequest,
    VoiceInfo,
)
from flashtts.engine.hub import resolve_model_path
from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics

from .generation import Generation, GenerationContext, Work, generation_class, opt_int
from .model import Qwen3Runner, Stream
from .runaway import RunawayGuard
from .sampling import Sampling

log = logging.getLogger(__name__)

KIND_NAMES = {"custom_voice": "CustomVoice", "voice_design": "VoiceDesign", "base": "Base"}


def detect_kind(model_path: str | os.PathLike) -> str:
    """The checkpoint kind (``custom_voice`` | ``voice_design`` | ``base``) from its ``config.json``."""
    cfg = json.loads((Path(model_path) / "config.json").read_text())
    kind = cfg.get("tts_model_type")
    if kind not in KIND_NAMES:
        raise ValueError(f"{model_path} is not a Qwen3-TTS checkpoint (tts_model_type={kind!r})")
    return str(kind)


class Qwen3Engine(Engine):
    name = "qwen3"
    description = "Qwen3-TTS 12Hz (CustomVoice / VoiceDesign / Base): continuous batching, streaming"

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        super().__init__(config, metrics)
        extra = dict(config.extra or {})
        self.options = extra
        self.first_chunk_frames = opt_int(extra, "first_chunk_frames", 4) or 1
        self.chunk_frames = opt_int(extra, "chunk_frames", 12) or 1
        self.chunk_growth = bool(opt_int(extra, "chunk_growth", 0))
        self.decode_context = opt_int(extra, "decode_context", 72) or 0
        self.conv_context = opt_int(extra, "conv_context", 8) or 0
        self.fixed_frames = opt_int(extra, "fixed_frames", None) or None
        self.threads = opt_int(extra, "threads", None)
        self.attn = str(extra["attn"]) if extra.get("attn") else None
        self.clone_cache_size = opt_int(extra, "clone_cache_size", 256) or 1
        self.runaway = RunawayGuard.from_options(extra)
        self._info: EngineInfo | None = None
        self._worker: ModelWorker | None = None
        self.generation: Generation | None = None
        self._runner: Qwen3Runner | None = None
        self._clone_mem: dict[str, Any] = {}
        self._clone_inflight: dict[str, asyncio.Future] = {}
        self.clone_encodes = 0
        self._seq = 0
        self.record_codes: dict[str, Any] | None = None
        """Tests and tools: set to a dict to keep each finished request's codec frames by request id."""

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise RuntimeError("engine not started")
        return self._info

    @property
    def runner(self) -> Qwen3Runner:
        """The loaded checkpoint (after :meth:`start`)."""
        if self._runner is None:
            raise RuntimeError("engine not started")
        return self._runner

    def _load(self) -> None:
        if not self.config.model_path:
            raise ValueError("the qwen3 engine needs --model_path (a Qwen3-TTS 12Hz checkpoint directory)")
        threads = self.threads
        device = self.config.device
        if threads is None and (device in ("cpu", "auto")):
            threads = max(1, (os.cpu_count() or 2) // 2)
        model_path = resolve_model_path(self.config.model_path, self.config.revision)
        assert model_path is not None  # a given path resolves to a path
        self._runner = r = Qwen3Runner(model_path, device=device, dtype=self.config.dtype,
                                       decode_context=self.decode_context, conv_context=self.conv_context,
                                       threads=threads, attn=self.attn)
        kind = r.kind
        speakers = r.speakers() if kind == "custom_voice" else []
        caps = Capabilities(clone=kind == "base", instruct=kind == "custom_voice" and r.instruct_supported(),
                            voice_design=kind == "voice_design", streaming=True, speed=False)
        self._info = EngineInfo(
            name=self.name,
            model=f"{Path(self.config.model_path).name} (Qwen3-TTS {KIND_NAMES[kind]}, {r.model_size})",
            sample_rate=r.sample_rate,
            voices=tuple(VoiceInfo(id=s, name=s.replace("_", " ").title(),
                                   description=f"Qwen3-TTS preset speaker {s}") for s in speakers),
            default_voice=("vivian" if "vivian" in speakers else speakers[0]) if speakers else None,
            languages=tuple(r.languages()),
            capabilities=caps,
            extra={"kind": kind, "model_size": r.model_size, "device": str(r.device), "dtype": str(r.dtype),
                   "frame_rate": r.sample_rate / r.samples_per_frame},
        )

    async def start(self) -> None:
        generation = generation_class(self.config.backend)  # the one choice of how frames are generated
        generation.require()  # before loading anything: fail at once with the fix (e.g. installing vLLM)
        self._worker = ModelWorker("flashtts-qwen3")
        await self._worker.run(self._load)
        self.generation = generation(GenerationContext(
            runner=self.runner, worker=self._worker, metrics=self.metrics, batch_size=self.config.batch_size,
            wait_timeout=self.config.wait_timeout, options=self.options))
        await self.generation.start()

    async def stop(self) -> None:
        if self.generation is not None:
            await self.generation.stop()
        if self._worker is not None:
            self._worker.shutdown()

    def ready(self) -> bool:
        return self.generation is not None and self.generation.ready()

    async def unload(self) -> None:
        """Stop the generation and the model thread and drop the checkpoint and the clone prompts held
        in memory (``info`` stays; the disk cache of clone prompts too)."""
        await self.stop()
        self.generation = None
        self._worker = None
        self._runner = None
        self._clone_mem.clear()

    async def reload(self) -> None:
        await self.start()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clone_prompt_encodes": self.clone_encodes,
                               "clone_prompts_cached": len(self._clone_mem)}
        if self.generation is not None:
            out.update(self.generation.stats())
        return out

    # ---- capabilities -------------------------------------------------------------------------
    def _can(self) -> str:
        kind = self.info.extra["kind"]
        if kind == "custom_voice":
            s = f"preset speakers ({', '.join(v.id for v in self.info.voices)})"
            return s + (" with style instructions" if self.info.capabilities.instruct else "")
        if kind == "voice_design":
            return "voices designed from a description in 'instructions' (no preset voices, no cloning)"
        return "voice cloning from reference audio + its transcript (no preset voices, no instructions)"

    def validate(self, request: SynthesisRequest) -> None:
        info = self.info
        kind = info.extra["kind"]
        what = f"this Qwen3-TTS {KIND_NAMES[kind]} checkpoint ({info.model}) supports {self._can()}"
        if request.reference is not None and kind != "base":
            raise CapabilityError(f"cannot clone a voice: {what}")
        if kind == "base":
            if request.reference is None:
                raise CapabilityError(f"a reference voice (role / uploaded audio) is required: {what}")
            if request.instructions:
                raise CapabilityError(f"instructions are not supported: {what}")
        if kind == "custom_voice":
            if request.instructions and not info.capabilities.instruct:
                raise CapabilityError(f"instructions are not supported: {what}")
            if request.voice is not None and request.voice.lower() not in info.voice_ids():
                raise CapabilityError(f"unknown voice '{request.voice}': {what}")
        if kind == "voice_design" and request.voice is not None:
            raise CapabilityError(f"voice '{request.voice}' cannot be used: {what}")
        if request.language and request.language.lower() not in {x.lower() for x in info.languages}:
            raise CapabilityError(
                f"language '{request.language}' is not supported; supported: {', '.join(info.languages)}")

    # ---- clone prompts -------------------------------------------------------------------------
    def _clone_file(self, ref: ReferenceAudio) -> Path | None:
        if ref.cache_dir is None or ref.cache_key is None:
            return None
        key = hashlib.sha1(ref.cache_key.encode()).hexdigest()[:16]
        return Path(ref.cache_dir) / f"qwen3-clone-{self.runner.fingerprint}-{key}.pt"

    def _compute_clone(self, ref: ReferenceAudio):
        """Disk cache (tensors only, loaded with ``weights_only``), else encode and store."""
        import torch

        from ._compat import import_qwen_tts

        path = self._clone_file(ref)
        if path is not None and path.is_file():
            try:
                d = torch.load(path, map_location="cpu", weights_only=True)
                return import_qwen_tts().VoiceClonePromptItem(**d)
            except Exception:  # noqa: BLE001 - a damaged cache file is recomputed
                log.warning("ignoring unreadable clone prompt cache %s", path)
        item = self.runner.clone_prompt(ref.samples, ref.sample_rate, ref.text)
        self.clone_encodes += 1
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                torch.save({"ref_code": item.ref_code, "ref_spk_embedding": item.ref_spk_embedding,
                            "x_vector_only_mode": bool(item.x_vector_only_mode), "icl_mode": bool(item.icl_mode),
                            "ref_text": item.ref_text}, tmp)
                os.replace(tmp, path)
            except OSError:
                log.warning("could not write clone prompt cache %s", path, exc_info=True)
        return item

    async def clone_prompt(self, ref: ReferenceAudio):
        """The clone prompt for ``ref``: memory cache, then disk cache, then encode (once per key)."""
        if ref.cache_key:
            key = f"{self.runner.fingerprint}:{ref.cache_key}"
        else:  # an uploaded clip: cache in memory by content (a long text's segments share one prompt)
            h = hashlib.sha1(np.ascontiguousarray(ref.samples, dtype=np.float32).tobytes())
            h.update(f"{ref.sample_rate}|{ref.text or ''}".encode())
            key = f"{self.runner.fingerprint}:clip-{h.hexdigest()}"
        if key in self._clone_mem:
            self._clone_mem[key] = item = self._clone_mem.pop(key)  # most recently used last
            return item
        if key in self._clone_inflight:
            return await asyncio.shield(self._clone_inflight[key])
        fut = self._model_call(self._compute_clone, ref)
        self._clone_inflight[key] = fut
        try:
            item = await asyncio.shield(fut)
            self._clone_mem[key] = item
            while len(self._clone_mem) > self.clone_cache_size:
                self._clone_mem.pop(next(iter(self._clone_mem)))
            return item
        finally:
            self._clone_inflight.pop(key, None)

    def _model_call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` on the model thread (the generation says when: e.g. between two decode steps)."""
        if self.generation is None:
            raise RuntimeError("engine not started")
        call: Awaitable[Any] = self.generation.call(fn, *args)
        return asyncio.ensure_future(call)

    # ---- requests -----------------------------------------------------------------------------
    def _new_stream(self, request_id: str, req: SynthesisRequest, clone: Any) -> Stream:
        """The request's sampling options and prompt as a generation stream (model thread)."""
        r = self.runner
        o = req.options.merged(self.config.defaults).merged(GenerationOptions(seed=self.config.seed))
        sampling = Sampling.from_options(o, r.generate_defaults, fixed_frames=self.fixed_frames)
        cap = None if sampling.ignore_eos else self.runaway.cap(req.text)
        if cap is not None and cap < sampling.max_frames:
            sampling = dataclasses.replace(sampling, max_frames=cap)
        else:
            cap = None
        speaker = None
        if r.kind == "custom_voice":
            speaker = (req.voice or self.info.default_voice or "").lower()
        prompt = r.build_prompt(req.text, language=req.language or "auto", speaker=speaker,
                                instruct=req.instructions or None, clone=clone)
        # one chunk schedule for live and complete-file requests: both decode the same
        # windows, so a streamed request's chunks are the complete file's samples
        stream = r.new_stream(request_id, prompt, sampling, self.first_chunk_frames, self.chunk_frames,
                              self.chunk_growth)
        stream.frame_cap = cap
        return stream

    def _count_runaway(self, work: Work) -> None:
        """A segment stopped by the runaway guard (its text's frame cap, not end-of-speech): count and log."""
        s = work.stream
        if s is not None and s.frame_cap is not None and s.n_frames >= s.frame_cap:
            self.metrics.inc("runaway_segments_total")
            log.warning("qwen3: request %s reached its text's frame cap (%d frames) without end-of-speech: "
                        "stopped as a runaway", work.id, s.frame_cap)

    def _record(self, work: Work) -> None:
        if self.record_codes is not None and work.stream is not None:
            import torch

            fr = work.stream.frames
            self.record_codes[work.id] = (torch.stack(fr).cpu() if fr
                                          else torch.zeros(0, self.runner.groups, dtype=torch.long))

    async def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray, None]:
        if self.generation is None or not self.generation.ready():
            raise RuntimeError("qwen3 engine is not running")
        self.validate(request)
        clone = await self.clone_prompt(request.reference) if request.reference is not None else None
        self._seq += 1
        request_id = request.request_id or f"qwen3-{self._seq}"
        work = Work(id=request_id, prepare=partial(self._new_stream, request_id, request, clone))
        chunks = self.generation.run(work)
        async with contextlib.aclosing(chunks):  # closing early stops the request's work
            async for audio in chunks:
                yield audio
        self._count_runaway(work)
        self._record(work)

    async def abort(self, request_id: str) -> None:
        if self.generation is not None:
            await self.generation.abort(request_id)
