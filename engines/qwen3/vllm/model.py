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
  request map. Per-request data (text embeddings, predictor sampling options, seed) travel in
  ``SamplingParams.extra_args``.
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
from dataclasses import dataclass, field
from typing import Any

import torch
from vllm.config import VllmConfig
from vllm.model_executor.models.qwen3 import Qwen3ForCausalLM
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from .plugin import ARCHITECTURE  # noqa: F401
EXTRA_KEY = "flashtts"

_MODEL: "FlashTTSQwen3Talker | None" = None  # the model of this worker process (one engine per process)


@dataclass
class _Request:
    key: str
    trailing: torch.Tensor  # (N, D) text embeddings consumed one per decode step
    pad: torch.Tensor  # (D,)
    rep_penalty: float
    sub_sample: bool
    sub_top_k: int
    sub_top_p: float
    sub_temperature: float
    generator: torch.Generator | None
    no_eos: bool = False  # fixed-length requests: end-of-speech is never sampled (as the torch backend)
    output: list[int] = field(default_factory=list)  # vLLM's live list of this request's sampled ids
    hidden: torch.Tensor | None = None  # talker hidden state of the last computed step


def _decode_request(args: dict[str, Any], output: list[int]) -> _Request:
    dim = int(args["dim"])
    trailing = torch.frombuffer(bytearray(args["trailing"]), dtype=torch.float32).view(-1, dim)
    pad = torch.frombuffer(bytearray(args["pad"]), dtype=torch.float32).view(dim)
    seed = args.get("seed")
    gen = None
    if seed is not None:
        gen = torch.Generator().manual_seed(int(seed) + 1)  # distinct from vLLM's stream for codebook 0
    return _Request(
        key=str(args["key"]), trailing=trailing, pad=pad, rep_penalty=float(args.get("repetition_penalty", 1.0)),
        sub_sample=bool(args.get("sub_do_sample", False)), sub_top_k=int(args.get("sub_top_k", 0)),
        sub_top_p=float(args.get("sub_top_p", 1.0)), sub_temperature=float(args.get("sub_temperature", 1.0)),
        generator=gen, output=output, no_eos=bool(args.get("no_eos", False)),
    )


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
            args = (params.extra_args or {}).get(EXTRA_KEY) if params is not None else None
            rows[index] = _decode_request(args, output) if args else None
        for a, b, direction in batch_update.moved:
            while len(rows) <= max(a, b):
                rows.append(None)
            if direction == MoveDirectionality.SWAP:
                rows[a], rows[b] = rows[b], rows[a]
            else:
                rows[b], rows[a] = rows[a], None
        del rows[max(need, 0):]


_TRACKER: RowTracker | None = None


def _sample(logits: torch.Tensor, req: _Request) -> int:
    """One code-predictor token: greedy, or temperature / top-k / top-p like transformers' ``generate``."""
    if not req.sub_sample:
        return int(torch.argmax(logits))
    scores = logits.float() / max(req.sub_temperature, 1e-5)
    if req.sub_top_k > 0:
        k = min(req.sub_top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if req.sub_top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)
        cum = sorted_scores.softmax(-1).cumsum(-1)
        remove = cum <= (1 - req.sub_top_p)
        remove[-1] = False
        scores = scores.masked_fill(remove.scatter(0, order, remove), float("-inf"))
    probs = scores.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=req.generator))


class FlashTTSQwen3Talker(Qwen3ForCausalLM):
    """Qwen3 decoder (vLLM layers, paged attention) + the reference code predictor and logit rules."""

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
        self._socket = None
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
        if self._socket is None:
            import zmq

            self._socket = zmq.Context.instance().socket(zmq.PUSH)
            self._socket.setsockopt(zmq.LINGER, 2000)
            self._socket.connect(self._address)
        self._socket.send(pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL))

    @torch.no_grad()
    def _residual_codes(self, hidden: torch.Tensor, code0: torch.Tensor, reqs: list[_Request]) -> torch.Tensor:
        """Codebooks 1..15 for each row, batched through the code predictor: ``(B, 15)``."""
        from transformers import DynamicCache

        cp = self.code_predictor
        embed0 = self.model.embed_input_ids(code0)
        x = cp.small_to_mtp_projection(torch.stack([hidden, embed0], dim=1).to(embed0.dtype))
        cache = DynamicCache()
        codes = []
        for step in range(self.num_groups - 1):
            out = cp.model(inputs_embeds=x, past_key_values=cache, use_cache=True)
            logits = cp.lm_head[step](out.last_hidden_state[:, -1])
            nxt = torch.tensor([_sample(logits[i], r) for i, r in enumerate(reqs)], dtype=torch.long,
                               device=logits.device)
            codes.append(nxt)
            if step + 1 < self.num_groups - 1:
                x = cp.small_to_mtp_projection(cp.model.get_input_embeddings()[step](nxt)[:, None])
        return torch.stack(codes, dim=1)

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
        hidden = torch.stack([r.hidden for r in decoding])
        residual = self._residual_codes(hidden, input_ids, decoding)
        cp_embed = self.code_predictor.model.get_input_embeddings()
        total = embeds.clone()
        for g in range(self.num_groups - 1):
            total = total + cp_embed[g](residual[:, g]).to(total.dtype)
        frames = []
        for i, r in enumerate(decoding):
            step = len(r.output) - 1  # frame index == decode step index of the reference
            text = r.trailing[step] if step < r.trailing.shape[0] else r.pad
            total[i] = total[i] + text.to(total.dtype)
            frames.append((r.key, step, [int(input_ids[i])] + residual[i].tolist()))
        self._publish(frames)
        return total

    # ---- logits ----
    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        logits = super().compute_logits(hidden_states)
        if logits is None:
            return None
        tracker = _TRACKER
        rows = tracker.rows if tracker is not None else []
        if len(rows) == hidden_states.shape[0]:
            for i, r in enumerate(rows):
                if r is None:
                    continue
                r.hidden = hidden_states[i].detach().clone()
                if r.no_eos:
                    logits[i, self._eos] = float("-inf")
                if r.rep_penalty != 1.0 and r.output:
                    ids = torch.tensor(sorted(set(r.output)), dtype=torch.long, device=logits.device)
                    score = logits[i, ids]
                    logits[i, ids] = torch.where(score < 0, score * r.rep_penalty, score / r.rep_penalty)
        return logits.masked_fill(self._suppress[: logits.shape[-1]], float("-inf"))

