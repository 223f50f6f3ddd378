"""The Qwen3-TTS engine: every kind of 12 Hz checkpoint, continuous batching on one shared model.

* CustomVoice: the checkpoint's preset speakers are the voices; ``instructions`` steer the style
  (not on 0.6B CustomVoice, which the reference code makes ignore them).
* VoiceDesign: ``instructions`` describe the voice; there are no preset voices.
* Base: clones ``request.reference`` (audio + transcript; without a transcript, the speaker
  embedding alone). The clone prompt is computed once per ``reference.cache_key`` and kept in memory
  and on disk in ``reference.cache_dir``.

All model work runs on one :class:`~flashtts.scheduler.worker.ModelWorker` thread driven by a
:class:`~flashtts.scheduler.continuous.ContinuousBatcher`: arrivals are prefilled together, then
every decode step runs one talker step for all active streams, the 15 code-predictor steps batched
across them, and one batched codec decode for the streams whose next chunk is due.

Engine options (``--engine_opt key=value``, all optional):

=====================  ======================================================================
``first_chunk_frames``  frames (80 ms each) before the first audio (default 4)
``chunk_frames``        frames per later chunk (default 12)
``decode_context``      frames of left context the codec decoder's transformer sees per chunk
                        (default 72, its attention window)
``conv_context``        frames of left context its upsampling convolutions see per chunk
                        (default 8; their receptive field is under 6 frames, so chunks join
                        exactly: streamed chunks == a one-pass decode up to float rounding)
``fixed_frames``        generate exactly this many frames per request, ignoring end-of-speech
                        (benchmarks; random weights stop at random points)
``threads``             torch CPU threads (default: half the cores, so the event loop keeps one)
``clone_cache_size``    clone prompts kept in memory (default 256, least recently used dropped)
``kv_cache_gib``        ``--backend vllm`` on CPU: vLLM's KV cache size (``VLLM_CPU_KVCACHE_SPACE``)
``gpu_memory_utilization``  ``--backend vllm`` on a GPU: vLLM's share of GPU memory
=====================  ======================================================================

``--backend vllm``: the talker runs in vLLM's own engine (``engines/qwen3_vllm``, its scheduler
batches the requests, ``batch_size`` is its ``max_num_seqs``); prompts, clone prompts and the codec
decoder (batched across streams) stay here. Without vLLM installed, start fails with the command
that installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np

from flashtts.engine import (
    Capabilities,
    CapabilityError,
    Engine,
    EngineConfig,
    EngineInfo,
    ReferenceAudio,
    SynthesisRequest,
    VoiceInfo,
)
from flashtts.hub import resolve_model_path
from flashtts.metrics import Metrics
from flashtts.scheduler.continuous import ContinuousBatcher
from flashtts.scheduler.worker import ModelWorker

log = logging.getLogger(__name__)

KIND_NAMES = {"custom_voice": "CustomVoice", "voice_design": "VoiceDesign", "base": "Base"}
_END = object()


def _opt_int(extra: dict[str, Any], key: str, default: int | None) -> int | None:
    v = extra.get(key)
    if v is None or v == "":
        return default
    return int(v)


def _opt_float(extra: dict[str, Any], key: str) -> float | None:
    v = extra.get(key)
    return None if v is None or v == "" else float(v)


def detect_kind(model_path: str | os.PathLike) -> str:
    """The checkpoint kind (``custom_voice`` | ``voice_design`` | ``base``) from its ``config.json``."""
    import json

    cfg = json.loads((Path(model_path) / "config.json").read_text())
    kind = cfg.get("tts_model_type")
    if kind not in KIND_NAMES:
        raise ValueError(f"{model_path} is not a Qwen3-TTS checkpoint (tts_model_type={kind!r})")
    return kind


@dataclass(eq=False)
class _Job:
    id: str
    request: SynthesisRequest
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    clone: Any = None
    stream: Any = None
    finished: bool = False
    failed: bool = False
    extra: dict = field(default_factory=dict)

    def put(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's loop is gone
            pass


class Qwen3Engine(Engine):
    name = "qwen3"
    description = "Qwen3-TTS 12Hz (CustomVoice / VoiceDesign / Base): continuous batching, streaming"

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        super().__init__(config, metrics)
        extra = dict(config.extra or {})
        self.first_chunk_frames = _opt_int(extra, "first_chunk_frames", 4) or 1
        self.chunk_frames = _opt_int(extra, "chunk_frames", 12) or 1
        self.decode_context = _opt_int(extra, "decode_context", 72) or 0
        self.conv_context = _opt_int(extra, "conv_context", 8) or 0
        self.fixed_frames = _opt_int(extra, "fixed_frames", None) or None
        self.threads = _opt_int(extra, "threads", None)
        self.clone_cache_size = _opt_int(extra, "clone_cache_size", 256) or 1
        self.kv_cache_gib = _opt_float(extra, "kv_cache_gib")
        self.gpu_memory_utilization = _opt_float(extra, "gpu_memory_utilization")
        self._vllm = None  # engines.qwen3_vllm.generation.VLLMGeneration when --backend vllm
        self._info: EngineInfo | None = None
        self._worker: ModelWorker | None = None
        self._batcher: ContinuousBatcher | None = None
        self.runner = None
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

    def _load(self) -> None:
        from .model import Qwen3Runner

        if not self.config.model_path:
            raise ValueError("the qwen3 engine needs --model_path (a Qwen3-TTS 12Hz checkpoint directory)")
        threads = self.threads
        device = self.config.device
        if threads is None and (device in ("cpu", "auto")):
            threads = max(1, (os.cpu_count() or 2) // 2)
        self.runner = Qwen3Runner(resolve_model_path(self.config.model_path, self.config.revision), device=device,
                                  dtype=self.config.dtype,
                                  backend=self.config.backend, max_rows=self.config.batch_size,
                                  decode_context=self.decode_context, conv_context=self.conv_context,
                                  threads=threads)
        r = self.runner
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
        if self.config.backend == "vllm":
            from engines.qwen3_vllm import require_vllm

            require_vllm()  # before loading anything: fail at once with the install command
        self._worker = ModelWorker("flashtts-qwen3")
        await self._worker.run(self._load)
        if self.config.backend == "vllm":
            from engines.qwen3_vllm.generation import VLLMGeneration

            self._vllm = VLLMGeneration(self.runner, self._worker.run, max_num_seqs=self.config.batch_size,
                                        kv_cache_gib=self.kv_cache_gib,
                                        gpu_memory_utilization=self.gpu_memory_utilization)
            await self._vllm.start()
            return
        self._batcher = ContinuousBatcher(self, self._worker, self.metrics, batch_size=self.config.batch_size,
                                          wait_timeout=self.config.wait_timeout, name="qwen3")
        self._batcher.start()

    async def stop(self) -> None:
        if self._vllm is not None:
            await self._vllm.close()
        if self._batcher is not None:
            await self._batcher.stop()
        if self._worker is not None:
            self._worker.shutdown()

    def ready(self) -> bool:
        if self._vllm is not None:
            return self._vllm.ready
        # a batching loop that died is started again by the next request
        return self._batcher is not None and (self._batcher.alive or not self._batcher._stopped)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clone_prompt_encodes": self.clone_encodes,
                               "clone_prompts_cached": len(self._clone_mem)}
        if self._batcher is not None:
            out.update(self._batcher.snapshot())
        if self.runner is not None and self.runner.backend is not None:
            out.update(self.runner.backend.stats())
        if self._vllm is not None:
            out.update(self._vllm.stats())
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

    def _model_call(self, fn, *args) -> asyncio.Future:
        """Run ``fn(*args)`` on the model thread (between two decode steps when the batcher runs)."""
        if self._batcher is not None:
            return asyncio.wrap_future(self._batcher.call(fn, *args))
        return asyncio.ensure_future(self._worker.run(fn, *args))

    # ---- BatchModel (model thread) -------------------------------------------------------------
    def _new_stream(self, job: _Job):
        """The request's sampling options and prompt as a generation stream (model thread)."""
        r = self.runner
        req = job.request
        o = req.options.merged(self.config.defaults)
        seed = o.seed if o.seed is not None else self.config.seed
        sampling = r.sampling_for(temperature=o.temperature, top_k=o.top_k, top_p=o.top_p,
                                  repetition_penalty=o.repetition_penalty,
                                  max_new_tokens=o.max_new_tokens, seed=seed, fixed_frames=self.fixed_frames)
        speaker = None
        if r.kind == "custom_voice":
            speaker = (req.voice or self.info.default_voice or "").lower()
        prompt = r.build_prompt(req.text, language=req.language or "auto", speaker=speaker,
                                instruct=req.instructions or None, clone=job.clone)
        # one chunk schedule for live and complete-file requests: both decode the same
        # windows, so a streamed request's chunks are the complete file's samples
        return r.new_stream(job.id, prompt, sampling, self.first_chunk_frames, self.chunk_frames)

    def _record(self, job: _Job) -> None:
        if self.record_codes is not None:
            import torch

            fr = job.stream.frames
            self.record_codes[job.id] = (torch.stack(fr).cpu() if fr
                                         else torch.zeros(0, self.runner.groups, dtype=torch.long))

    def admit(self, jobs: list[_Job]) -> list[_Job]:
        r = self.runner
        ok: list[_Job] = []
        for job in jobs:
            try:
                job.stream = self._new_stream(job)
                ok.append(job)
            except Exception as exc:  # noqa: BLE001 - fails this request only
                log.exception("qwen3: could not prepare request %s", job.id)
                self.fail(job, exc)
        if ok:
            r.prefill([j.stream for j in ok])
            self._emit(ok)
        return ok

    def step(self, active: list[_Job]) -> None:
        self.runner.step([j.stream for j in active])
        self._emit(active)

    def _emit(self, jobs: list[_Job]) -> None:
        r = self.runner
        due = [j for j in jobs if r.ready_to_decode(j.stream)]
        if due:
            for job, audio in zip(due, r.decode_audio([j.stream for j in due])):
                job.put(audio)
        for job in jobs:
            if job.stream.done and not job.finished and not r.ready_to_decode(job.stream):
                job.finished = True
                self._record(job)
                job.put(_END)

    def finished(self, job: _Job) -> bool:
        return job.stream is None or job.stream.done

    def release(self, job: _Job, active: list[_Job]) -> None:
        row = active.index(job)
        moved = self.runner.backend.remove(row)
        if moved is not None:
            active[row] = active[moved]
            active.pop(moved)
        else:
            active.pop(row)

    def fail(self, job: _Job, exc: BaseException) -> None:
        if job.finished:
            return
        job.finished = job.failed = True
        job.put(exc)

    # ---- event loop ----------------------------------------------------------------------------
    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        running = self._vllm.ready if self._vllm is not None else (self._batcher is not None and self._batcher.alive)
        if not running:
            raise RuntimeError("qwen3 engine is not running")
        self.validate(request)
        clone = await self.clone_prompt(request.reference) if request.reference is not None else None
        self._seq += 1
        job = _Job(id=request.request_id or f"qwen3-{self._seq}", request=request,
                   loop=asyncio.get_running_loop(), queue=asyncio.Queue(), clone=clone)
        if self._vllm is not None:  # the talker runs in vLLM: submit straight to it, no batching on top
            job.stream = await self._worker.run(self._new_stream, job)
            chunks = self._vllm.synthesize(job.stream)
            async with contextlib.aclosing(chunks):  # closing early aborts the request in vLLM
                async for audio in chunks:
                    yield audio
            self._record(job)
            return
        self._batcher.submit(job)
        done = False
        try:
            while True:
                item = await job.queue.get()
                if item is _END:
                    done = True
                    return
                if isinstance(item, BaseException):
                    done = True
                    raise item
                yield item
        finally:
            if not done:
                self._batcher.abort(job.id)

    async def abort(self, request_id: str) -> None:
        if self._vllm is not None:
            await self._vllm.abort(request_id)
        if self._batcher is not None:
            self._batcher.abort(request_id)
