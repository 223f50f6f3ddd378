"""The Qwen3-TTS talker as a vLLM model (runs inside vLLM's worker process).

vLLM schedules, batches and keeps the paged KV cache of the talker; this class adds what a
text LLM does not have:

* **Per-step input.** vLLM feeds back the sampled codebook-0 id of each decoding row through
  :meth:`embed_input_ids`. There, for every decoding row (batch order), the code predictor runs
  batched across the rows on ``(talker hidden of the previous step, code 0)`` and predicts
  codebooks 1..15; the talker input becomes the sum of the 16 codebook embeddings plus the
  request's next text embedding (or the pad embedding once the text is consumed), exactly as the
  reference ``Qwen3TTSTalkerForConditionalGeneration.forward`` builds it.
* **Which row is which request.** :class:`RowTracker`, a vLLM logits processor (the public plugin
  API that is told about every request added to, removed from or moved within the persistent
  batch, with its ``SamplingParams`` and a live reference to its output tokens), keeps the row ->
  request map. Per-request data (text embeddings, the request's whole ``Sampling``) travel in
  ``SamplingParams.extra_args`` (:mod:`.wire`); the code predictor, the next input and the logit
  rules are the torch generation's own (:class:`~..frame.FrameKernel`, sampling with
  :func:`~..sampling.sample`).
* **Returning codebooks 1..15.** vLLM only returns sampled ids, so each completed frame
  ``(request key, frame index, 16 codes)`` is pushed over a ZeroMQ socket (address given in the
  model config) to the flashtts process; vLLM's own output stream still carries codebook 0 and the
  end of the request.
* Logits: the reference's suppressed ids (the top 1024 codec ids except end-of-speech) are masked
  and its repetition penalty is applied over the generated tokens only (vLLM's would also count
  the placeholder ids of the prompt embeddings).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from vllm.config import VllmConfig
from vllm.model_executor.models.qwen3 import Qwen3ForCausalLM
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from ..frame import FrameKernel
from ..sampling import Uniforms, sample
from .plugin import ARCHITECTURE  # noqa: F401
from .wire import WireRequest, decode_request

_MODEL: FlashTTSQwen3Talker | None = None  # the model of this worker process (one engine per process)


@dataclass
class _Request:
    wire: WireRequest
    output: list[int]  # vLLM's live list of this request's sampled ids
    randoms: Uniforms | None  # the code predictor's random numbers (codebook 0 is vLLM's)
    hidden: torch.Tensor | None = None  # talker hidden state of the last computed step


def _request(wire: WireRequest, output: list[int]) -> _Request:
    s = wire.sampling
    randoms = None
    if s.sub_do_sample:  # a stream of its own, distinct from vLLM's for codebook 0
        randoms = Uniforms(None if s.seed is None else s.seed + 1)
    return _Request(wire=wire, output=output, randoms=randoms)


class RowTracker(LogitsProcessor):
    """Keeps ``rows[i]`` = the request in persistent-batch row ``i`` (does not change logits)."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        self.rows: list[_Request | None] = []
        global _TRACKER
        _TRACKER = self

    def is_argmax_invariant(self) -> bool:
        return True

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        rows = self.rows
        need = batch_update.batch_size
        for i in batch_update.removed:
            if i < len(rows):
                rows[i] = None
        for index, params, _prompt, output in batch_update.added:
            while len(rows) <= index:
                rows.append(None)
            wire = decode_request(params.extra_args) if params is not None else None
            rows[index] = _request(wire, output) if wire is not None else None
        for a, b, direction in batch_update.moved:
            while len(rows) <= max(a, b):
                rows.append(None)
            if direction == MoveDirectionality.SWAP:
                rows[a], rows[b] = rows[b], rows[a]
            else:
                rows[b], rows[a] = rows[a], None
        del rows[max(need, 0):]


_TRACKER: RowTracker | None = None


class FlashTTSQwen3Talker(Qwen3ForCausalLM):
    """Qwen3 decoder (vLLM layers, paged attention) + the reference code predictor and logit rules."""

    _suppress: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        super().__init__(vllm_config=vllm_config, prefix=prefix)
        from .._compat import import_qwen_tts

        import_qwen_tts()
        from qwen_tts.core.models.configuration_qwen3_tts import Qwen3TTSTalkerConfig
        from qwen_tts.core.models.modeling_qwen3_tts import (
            Qwen3TTSTalkerCodePredictorModelForConditionalGeneration as Predictor,
        )

        cfg = self.config
        talker_cfg = Qwen3TTSTalkerConfig(**cfg.flashtts_talker_config)
        self.code_predictor = Predictor(talker_cfg.code_predictor_config, talker_cfg).eval()
        self.num_groups = int(talker_cfg.num_code_groups)
        vocab = int(talker_cfg.vocab_size)
        eos = int(talker_cfg.codec_eos_token_id)
        suppress = torch.zeros(vocab, dtype=torch.bool)
        suppress[vocab - 1024:] = True
        suppress[eos] = False
        self.register_buffer("_suppress", suppress, persistent=False)
        self._eos = eos
        self._frame: FrameKernel | None = None  # built once the weights are loaded (device and dtype known)
        self._socket: Any = None  # zmq PUSH socket, opened at the first frame
        self._address = getattr(cfg, "flashtts_side_channel", None)
        global _MODEL
        _MODEL = self

    # ---- weights ----
    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        talker: list[tuple[str, torch.Tensor]] = []
        predictor: dict[str, torch.Tensor] = {}
        for name, tensor in weights:
            if name.startswith("talker.code_predictor."):
                predictor[name[len("talker.code_predictor."):]] = tensor
            elif name.startswith("talker.model.codec_embedding."):
                talker.append(("model.embed_tokens." + name.rsplit(".", 1)[1], tensor))
            elif name.startswith("talker.model.layers.") or name.startswith("talker.model.norm."):
                talker.append((name[len("talker."):], tensor))
            elif name.startswith("talker.codec_head."):
                talker.append(("lm_head." + name.rsplit(".", 1)[1], tensor))
            # text embedding / projection / speaker encoder: used by flashtts when it builds prompts
        loaded = super().load_weights(talker)
        missing, unexpected = self.code_predictor.load_state_dict(predictor, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"code predictor weights: missing={missing[:4]} unexpected={unexpected[:4]}")
        self.code_predictor.to(dtype=next(self.parameters()).dtype)
        return loaded | {"code_predictor." + k for k in predictor}

    # ---- per-step input ----
    def _publish(self, frames: list[tuple[str, int, list[int]]]) -> None:
        if not frames or not self._address:
            return
        sock = self._socket
        if sock is None:
            import zmq

            sock = self._socket = zmq.Context.instance().socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 2000)
            sock.connect(self._address)
        sock.send(pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL))

    @property
    def frame(self) -> FrameKernel:
        if self._frame is None:
            self._frame = FrameKernel(self.code_predictor, self.model.embed_input_ids, self.num_groups, self._eos,
                                      self._suppress)
        return self._frame

    def embed_input_ids(self, input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        embeds = self.model.embed_input_ids(input_ids)
        tracker = _TRACKER
        if tracker is None:
            return embeds
        decoding = [r for r in tracker.rows if r is not None and len(r.output) > 0]
        if len(decoding) != input_ids.shape[0] or any(r.hidden is None for r in decoding):
            if decoding:
                raise RuntimeError(
                    f"flashtts talker: {input_ids.shape[0]} token inputs for {len(decoding)} decoding rows "
                    "(preemption/recompute is not supported: give the KV cache more room)")
            return embeds  # warm-up / profiling runs
        hidden = torch.stack([h for r in decoding if (h := r.hidden) is not None])
        rows = [r.wire.sampling.predictor for r in decoding]
        randoms = [r.randoms for r in decoding]
        with torch.no_grad():
            codes = self.frame.residual_codes(hidden, input_ids, lambda _g, logits: sample(logits, rows, randoms))
            text = []
            for r in decoding:
                step = len(r.output) - 1  # frame index == decode step index of the reference
                w = r.wire
                text.append(w.trailing[step] if step < w.trailing.shape[0] else w.pad)
            total = self.frame.next_input(codes, torch.stack(text).to(embeds.device)).to(embeds.dtype)
        listed = codes.tolist()
        self._publish([(r.wire.key, len(r.output) - 1, listed[i]) for i, r in enumerate(decoding)])
        return total

    # ---- logits ----
    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        logits = super().compute_logits(hidden_states)
        if logits is None:
            return None
        tracker = _TRACKER
        rows = tracker.rows if tracker is not None else []
        b, dev = logits.shape[0], logits.device
        seen = torch.zeros(b, logits.shape[-1], dtype=torch.bool, device=dev)
        penalty = torch.ones(b, device=dev)
        no_eos = torch.zeros(b, dtype=torch.bool, device=dev)
        if len(rows) == hidden_states.shape[0]:
            for i, r in enumerate(rows):
                if r is None:
                    continue
                r.hidden = hidden_states[i].detach().clone()
                s = r.wire.sampling
                no_eos[i] = s.ignore_eos or len(r.output) < 2  # vLLM's min_tokens=2 says the same
                if s.repetition_penalty != 1.0 and r.output:
                    penalty[i] = s.repetition_penalty
                    seen[i, torch.tensor(r.output, dtype=torch.long, device=dev)] = True
        return self.frame.codebook0_logits(logits, seen, penalty, no_eos)
