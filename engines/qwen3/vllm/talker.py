"""flashtts side of the vLLM talker: one ``AsyncLLM`` engine, one request per stream.

``VLLMTalker.frames(...)`` submits a request (prefill = the talker prompt embeddings) and yields
its codec frames ``(16,)`` as they complete; vLLM's scheduler batches all live requests. The
frames' codebooks 1..15 arrive over a ZeroMQ PULL socket fed by the model in vLLM's worker
(see :mod:`flashtts_engines.qwen3.vllm.model`); vLLM's output stream gives codebook 0 and the end. When
the consumer stops iterating (client disconnect, cancellation), the request is aborted in vLLM.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import tempfile
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import torch

from ..sampling import Sampling
from . import require_vllm
from .wire import encode_request


def vllm_view(checkpoint: Path | str, out: Path | str | None = None) -> Path:
    """A directory vLLM can load: a Qwen3 ``config.json`` for the talker + the checkpoint's weights.

    The weights file is linked, not copied; the talker configuration travels whole in
    ``flashtts_talker_config`` for the code predictor.
    """
    from .reference import published_layout

    checkpoint = Path(checkpoint).resolve()
    cfg = published_layout(json.loads((checkpoint / "config.json").read_text()))
    t = cfg["talker_config"]
    view = Path(out) if out else Path(tempfile.mkdtemp(prefix="flashtts-vllm-"))
    view.mkdir(parents=True, exist_ok=True)
    head_dim = t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"]
    qwen3 = {
        "architectures": ["FlashTTSQwen3Talker"], "model_type": "qwen3",
        "hidden_size": t["hidden_size"], "intermediate_size": t["intermediate_size"],
        "num_hidden_layers": t["num_hidden_layers"], "num_attention_heads": t["num_attention_heads"],
        "num_key_value_heads": t["num_key_value_heads"], "head_dim": head_dim,
        "vocab_size": t["vocab_size"], "max_position_embeddings": t.get("max_position_embeddings", 32768),
        "rms_norm_eps": t.get("rms_norm_eps", 1e-6), "hidden_act": t.get("hidden_act", "silu"),
        "rope_theta": t.get("rope_theta", 1000000), "attention_bias": t.get("attention_bias", False),
        "tie_word_embeddings": False, "torch_dtype": "float32",
        "flashtts_talker_config": t,
    }
    (view / "config.json").write_text(json.dumps(qwen3, indent=2))
    for name in os.listdir(checkpoint):
        if name.endswith(".safetensors") or name.endswith(".safetensors.index.json"):
            link = view / name
            if not link.exists():
                link.symlink_to(checkpoint / name)
    return view


class VLLMTalker:
    """The talker of a Qwen3-TTS checkpoint served by vLLM's ``AsyncLLM``."""

    def __init__(self, checkpoint: Path | str, *, max_num_seqs: int = 64, dtype: str = "float32",
                 kv_cache_gib: float | None = None, enforce_eager: bool = True,
                 gpu_memory_utilization: float | None = None) -> None:
        require_vllm()
        self.checkpoint = Path(checkpoint)
        self.max_num_seqs = max_num_seqs
        self.dtype = dtype
        self.kv_cache_gib = kv_cache_gib
        self.enforce_eager = enforce_eager
        self.gpu_memory_utilization = gpu_memory_utilization
        self.engine: Any = None  # vllm AsyncLLM, made by start()
        self._pull: Any = None  # zmq PULL socket for the frames
        self._reader: asyncio.Task | None = None
        self._queues: dict[str, asyncio.Queue] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="flashtts-vllm-")
        self.address = f"ipc://{self._tmp.name}/frames.sock"
        cfg = json.loads((self.checkpoint / "config.json").read_text())["talker_config"]
        self.eos = int(cfg["codec_eos_token_id"])
        self.hidden_size = int(cfg["hidden_size"])

    async def start(self) -> None:
        import zmq
        import zmq.asyncio
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from .model import RowTracker
        from .plugin import register

        register()
        if self.kv_cache_gib is not None:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(self.kv_cache_gib))))  # whole GiB
        pull = self._pull = zmq.asyncio.Context.instance().socket(zmq.PULL)
        pull.bind(self.address)
        self._reader = asyncio.create_task(self._read_frames())
        view = vllm_view(self.checkpoint, Path(self._tmp.name) / "model")
        more: dict[str, Any] = {}
        if self.gpu_memory_utilization is not None:
            more["gpu_memory_utilization"] = float(self.gpu_memory_utilization)
        args = AsyncEngineArgs(**more,
            model=str(view), skip_tokenizer_init=True, enable_prompt_embeds=True, dtype=cast(Any, self.dtype),
            max_num_seqs=self.max_num_seqs, enforce_eager=self.enforce_eager, enable_prefix_caching=False,
            async_scheduling=False, logits_processors=[RowTracker],
            hf_overrides={"flashtts_side_channel": self.address},
            max_model_len=min(8192, json.loads((view / "config.json").read_text())["max_position_embeddings"]),
        )
        self.engine = AsyncLLM.from_engine_args(args)

    async def close(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()
            self.engine = None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self._pull is not None:
            self._pull.close(linger=0)
            self._pull = None
        self._tmp.cleanup()

    async def _read_frames(self) -> None:
        pull = self._pull
        assert pull is not None
        while True:
            data = await pull.recv()
            for key, index, codes in pickle.loads(data):
                q = self._queues.get(key)
                if q is not None:
                    q.put_nowait((index, codes))

    def _params(self, key: str, trailing: torch.Tensor, pad: torch.Tensor, sampling: Sampling):
        """vLLM's ``SamplingParams``: codebook 0 sampled by vLLM; the rest travels in ``extra_args``."""
        from vllm import SamplingParams

        s = sampling
        drawn = dict(temperature=s.temperature, top_k=s.top_k if s.top_k > 0 else -1, top_p=s.top_p,
                     min_p=s.min_p, seed=s.seed) if s.do_sample else dict(temperature=0.0)
        # the reference computes a frame for every codebook-0 token but the last one
        return SamplingParams(max_tokens=s.max_frames + 1, min_tokens=2, stop_token_ids=[self.eos],
                              ignore_eos=s.ignore_eos, detokenize=False,
                              extra_args=encode_request(key, trailing, pad, s), **drawn)

    async def frames(self, prompt: torch.Tensor, trailing: torch.Tensor, pad: torch.Tensor, sampling: Sampling,
                     request_id: str | None = None) -> AsyncGenerator[torch.Tensor, None]:
        """Yield the request's codec frames ``(16,)`` in order; aborts the vLLM request if closed early."""
        if self.engine is None:
            raise RuntimeError("VLLMTalker.start() was not awaited")
        key = request_id or uuid.uuid4().hex
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[key] = queue
        stream = self.engine.generate({"prompt_embeds": prompt.detach().to("cpu", torch.float32).contiguous()},
                                      self._params(key, trailing, pad, sampling), key)
        sent = 0
        total: int | None = None
        pending: dict[int, list[int]] = {}
        done = False
        try:
            async for out in stream:
                if out.finished:
                    total = max(len(out.outputs[0].token_ids) - 1, 0)
                while not queue.empty():
                    idx, codes = queue.get_nowait()
                    pending[idx] = codes
                while sent in pending:
                    yield torch.tensor(pending.pop(sent), dtype=torch.long)
                    sent += 1
            while total is not None and sent < total:
                idx, codes = await asyncio.wait_for(queue.get(), timeout=30)
                pending[idx] = codes
                while sent in pending and sent < total:
                    yield torch.tensor(pending.pop(sent), dtype=torch.long)
                    sent += 1
            done = True
        finally:
            self._queues.pop(key, None)
            if not done and self.engine is not None:
                await self.engine.abort(key)
            await stream.aclose()

    async def generate(self, prompt: torch.Tensor, trailing: torch.Tensor, pad: torch.Tensor,
                       sampling: Sampling) -> torch.Tensor:
        """All frames of one request: ``(frames, 16)``."""
        got = [f async for f in self.frames(prompt, trailing, pad, sampling)]
        return torch.stack(got) if got else torch.zeros(0, 16, dtype=torch.long)

    def stats(self) -> dict[str, Any]:
        return {"backend": "vllm", "live_requests": len(self._queues)}
