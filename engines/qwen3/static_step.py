"""The graph-ready decode loop (``--backend static``): one static-shape frame step over preallocated buffers.

Every per-row value the step needs lives in a device buffer of ``max_rows`` slots (the talker's
slot KV cache ``max_rows x max_len``, the pending codebook-0 token and its hidden state, positions,
frame and token counters, the repetition-penalty "seen" mask, sampling options as row tensors, the
request seeds, the trailing text embeddings). One call of :meth:`StaticDecode._frame` runs, for
the first ``rows`` slots of a bucket (1, 2, 4, 8, ... up to ``max_rows``, rows padded):

1. the 15 code-predictor steps (sampling on the device, :mod:`.device_sampling`);
2. the next talker input (the frame's 16 code embeddings + the row's next text embedding);
3. one talker step for all rows over a static KV width (a power of two >= the longest row);
4. the next codebook-0 token (repetition penalty, end-of-speech rules, sampling);
5. the finished flags (end-of-speech or the row's frame limit).

It returns ``(rows, 17)``: the 16 codes of the frame and the finished flag; the host copies that
once per frame and never reads the device inside the step. Randomness is counter-based
(request seed, frame index, codebook), so a request samples the same audio alone or in any batch.

Joins (prefill, outside the step: prompts have their own lengths) write a free slot; leaves move
the last row into the freed slot (swap-remove), so live rows are always ``0..rows-1`` and nothing
is reallocated. On CPU the step can run through ``torch.compile(fullgraph=True, dynamic=False)``
(engine option ``compile=1``), which also proves it has no graph breaks and no host reads; on CUDA
every (rows, width) bucket is captured as a CUDA graph at start (``cuda_graphs``, default on).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .device_sampling import RowParams, counter_uniform, sample_rows, seed32
from .generation import GenerationContext, opt_int
from .model import Qwen3Runner, Stream
from .torch_generation import TorchGeneration
from .torch_talker import TorchTalker

log = logging.getLogger(__name__)

MIN_WIDTH = 64


def buckets(limit: int) -> list[int]:
    """Powers of two below ``limit``, then ``limit`` itself: 1, 2, 4, ..., limit."""
    out, b = [], 1
    while b < limit:
        out.append(b)
        b *= 2
    return out + [limit]


def bucket_of(n: int, limit: int, floor: int = 1) -> int:
    """The smallest bucket of :func:`buckets` (at least ``floor``) holding ``n``."""
    b = floor
    while b < n:
        b *= 2
    return min(b, limit)


def _truthy(v: Any, default: bool) -> bool:
    if v is None or v == "":
        return default
    return str(v).lower() not in ("0", "false", "no", "off")


class StaticDecode:
    """Prefill and static-shape frame steps of up to ``max_rows`` streams (a :class:`~.torch_generation.DecodeLoop`)."""

    def __init__(self, runner: Qwen3Runner, max_rows: int, options: Mapping[str, Any] | None = None) -> None:
        options = options or {}
        self.runner = r = runner
        self.max_rows = max_rows
        cfg = r.talker.config
        self.max_len = min(opt_int(options, "max_len", 4096) or 4096, int(cfg.max_position_embeddings))
        self.talker = TorchTalker(r.talker, max_rows)
        self.talker.cache.ensure(self.max_len)  # the whole slot cache now: never reallocated after this
        self.cp = r.talker.code_predictor
        dev, dt = r.device, r.dtype
        d = int(cfg.hidden_size)
        self.vocab = r.vocab
        rows = max_rows
        z = dict(dtype=torch.long, device=dev)
        self.pending = torch.zeros(rows, **z)
        self.past_hidden = torch.zeros(rows, d, dtype=dt, device=dev)
        self.pos = torch.zeros(rows, **z)
        self.tstep = torch.zeros(rows, **z)
        self.ntok = torch.zeros(rows, **z)
        self.nframes = torch.zeros(rows, **z)
        self.max_frames = torch.zeros(rows, **z)
        self.seed = torch.zeros(rows, **z)
        self.active = torch.zeros(rows, dtype=torch.bool, device=dev)
        self.ignore_eos = torch.zeros(rows, dtype=torch.bool, device=dev)
        self.penalty = torch.ones(rows, dtype=torch.float32, device=dev)
        self.seen = torch.zeros(rows, r.vocab, dtype=torch.bool, device=dev)
        self.talker_params = RowParams.empty(rows, dev)
        self.cp_params = RowParams.empty(rows, dev)
        self.text_len = torch.zeros(rows, **z)
        self.tts_pad = torch.zeros(rows, d, dtype=dt, device=dev)
        text_tokens = opt_int(options, "max_text_tokens", 256) or 256
        self.trailing = torch.zeros(rows, text_tokens, d, dtype=dt, device=dev)
        self.frame = r.frame
        self.cp_vocab = int(self.cp.config.vocab_size)
        self._neg = torch.finfo(dt).min
        self.steps = 0
        self.candidates = opt_int(options, "sample_candidates", 256) or 0
        self.compile = _truthy(options.get("compile"), False)
        on_cuda = dev.type == "cuda"
        self.cuda_graphs = on_cuda and _truthy(options.get("cuda_graphs"), True)
        self._frame_fn: Callable[[int, int], torch.Tensor] = self._frame
        if self.compile:
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 256)
            backend = str(options.get("compile_backend") or "inductor")
            simdlen = opt_int(options, "compile_simdlen", 1 if dev.type == "cpu" else 0)
            if backend == "inductor" and simdlen:
                # torch 2.13's vectorised C++ code for this step does not compile (VecMask<int> vs
                # VecMask<float> in one kernel); scalar code does (process-wide setting)
                torch._inductor.config.cpp.simdlen = simdlen
            self._frame_fn = torch.compile(self._frame, fullgraph=True, dynamic=False, backend=backend)
        self._graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._pool: Any = None  # one memory pool for every captured bucket (replayed one at a time)
        self.warmup_seconds = 0.0

    # ---- rows -----------------------------------------------------------------------------------
    def _row_buffers(self) -> list[torch.Tensor]:
        return [self.pending, self.past_hidden, self.pos, self.tstep, self.ntok, self.nframes, self.max_frames,
                self.seed, self.active, self.ignore_eos, self.penalty, self.seen, self.text_len, self.tts_pad,
                self.trailing, *self.talker_params.tensors(), *self.cp_params.tensors()]

    @property
    def rows(self) -> int:
        return self.talker.rows

    def _fit_trailing(self, n: int) -> None:
        if n <= self.trailing.shape[1]:
            return
        width = self.trailing.shape[1]
        while width < n:
            width *= 2
        log.warning("qwen3 static: trailing text buffer grows to %d tokens (max_text_tokens): compiled steps "
                    "compile again, CUDA graphs are dropped (eager steps from now on)", width)
        new = self.trailing.new_zeros(self.max_rows, width, self.trailing.shape[2])
        new[:, : self.trailing.shape[1]] = self.trailing
        self.trailing = new
        self._graphs.clear()

    def _join(self, row: int, s: Stream, prompt_len: int) -> None:
        """Write stream ``s``'s state into slot ``row`` (host -> device copies, between steps)."""
        room = self.max_len - prompt_len - 1
        if s.sampling.max_frames > room:
            s.sampling = dataclasses.replace(s.sampling, max_frames=max(0, room))
        smp = s.sampling
        tr = s.prompt.trailing
        self._fit_trailing(int(tr.shape[0]))
        self.trailing[row, : tr.shape[0]] = tr
        self.text_len[row] = int(tr.shape[0])
        self.tts_pad[row] = s.prompt.tts_pad
        self.pos[row] = prompt_len
        self.tstep[row] = 0
        self.ntok[row] = 0
        self.nframes[row] = 0
        self.max_frames[row] = smp.max_frames
        seed = smp.seed if smp.seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
        self.seed[row] = seed32(seed)
        self.active[row] = True
        self.ignore_eos[row] = bool(smp.ignore_eos)
        self.penalty[row] = float(smp.repetition_penalty)
        self.seen[row] = False
        self.talker_params.set_row(row, smp, self.vocab)
        self.cp_params.set_row(row, smp.predictor, self.cp_vocab)

    def remove(self, row: int) -> int | None:
        """Drop ``row``: the last row moves into its slot (KV and every row buffer); no reallocation."""
        moved = self.talker.remove(row)
        last = self.talker.rows if moved is not None else row
        if moved is not None:
            for buf in self._row_buffers():
                buf[row] = buf[last]
        self.active[last] = False
        self.pos[last] = 0
        return moved

    # ---- device work ------------------------------------------------------------------------------
    def _pick_tok0(self, rows: slice, logits: torch.Tensor) -> torch.Tensor:
        """The next codebook-0 token of ``rows`` (penalty, end-of-speech rules, sampling); updates their state."""
        logits = self.frame.codebook0_logits(logits, self.seen[rows], self.penalty[rows],
                                             (self.ntok[rows] < 2) | self.ignore_eos[rows])
        params = RowParams(*(t[rows] for t in self.talker_params.tensors()))
        tok = sample_rows(logits, params, counter_uniform(self.seed[rows], self.ntok[rows], 0), self.candidates)
        self.seen[rows] |= torch.nn.functional.one_hot(tok, self.vocab).bool() & self.active[rows][:, None]
        self.ntok[rows] += self.active[rows].long()
        self.pending[rows] = tok
        return tok

    def _predict_codes(self, b: int) -> torch.Tensor:
        """The 15 code-predictor steps for rows ``0..b-1`` -> frames ``(b, 16)``."""
        params = self.cp_params.rows(b)
        groups = torch.arange(self.runner.groups, device=self.pending.device)[None, :]
        u = counter_uniform(self.seed[:b, None], self.nframes[:b, None], groups)  # (b, 16): all draws of the frame
        return self.frame.residual_codes(self.past_hidden[:b], self.pending[:b],
                                         lambda g, logits: sample_rows(logits, params, u[:, g], self.candidates))

    def _next_embeds(self, b: int, codes: torch.Tensor) -> torch.Tensor:
        step = self.tstep[:b]
        at = step.clamp_max(self.trailing.shape[1] - 1)
        text = self.trailing[:b].gather(1, at[:, None, None].expand(b, 1, self.trailing.shape[2]))[:, 0]
        text = torch.where((step < self.text_len[:b])[:, None], text, self.tts_pad[:b])
        return self.frame.next_input(codes, text)

    def _talker_step(self, b: int, width: int, x: torch.Tensor) -> torch.Tensor:
        t = self.talker
        pos = self.pos[:b]
        ar = torch.arange(width, device=pos.device)
        mask = torch.zeros(b, 1, 1, width, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill((ar[None, :] > pos[:, None])[:, None, None, :], self._neg)
        t.cache.begin_decode(b, pos, width)
        hidden = t._run(x.view(b, 1, -1), pos.view(b, 1), mask)[:, 0]
        return hidden

    def _frame(self, b: int, width: int) -> torch.Tensor:
        """One frame for slots ``0..b-1`` over KV width ``width``: ``(b, 17)`` = 16 codes + finished flag."""
        live = self.active[:b]
        codes = self._predict_codes(b)
        self.nframes[:b] += live.long()
        x = self._next_embeds(b, codes).to(self.past_hidden.dtype)
        hidden = self._talker_step(b, width, x)
        self.pos[:b] += live.long()
        self.tstep[:b] += live.long()
        self.past_hidden[:b] = hidden
        tok = self._pick_tok0(slice(0, b), self.talker.talker.codec_head(hidden))
        finished = (self.nframes[:b] >= self.max_frames[:b]) | (tok == self.runner.eos)
        return torch.cat([codes, finished[:, None].long()], dim=1)

    # ---- the DecodeLoop API (model thread) -------------------------------------------------------
    @torch.no_grad()
    def prefill(self, streams: list[Stream]) -> None:
        """Append ``streams`` as the last rows (one prompt forward for all) and pick their first tokens."""
        if not streams:
            return
        start = self.talker.rows
        lens = [int(s.prompt.embeds.shape[0]) for s in streams]
        too_long = [n for n in lens if n >= self.max_len]
        if too_long:
            raise ValueError(f"prompt of {too_long[0]} tokens does not fit max_len={self.max_len}")
        logits, hidden = self.talker.prefill([s.prompt.embeds for s in streams])
        rows = slice(start, start + len(streams))
        for i, s in enumerate(streams):
            self._join(start + i, s, lens[i])
        self.past_hidden[rows] = hidden
        self._pick_tok0(rows, logits)
        for s in streams:
            if s.sampling.max_frames <= 0:
                s.done = True

    def _run_frame(self, b: int, width: int) -> torch.Tensor:
        graph = self._graphs.get((b, width))
        if graph is not None:
            graph[0].replay()
            return graph[1]
        return self._frame_fn(b, width)

    @torch.no_grad()
    def step(self, streams: list[Stream]) -> None:
        """One frame for every row: one static-shape step, one device -> host copy."""
        n = self.talker.rows
        assert len(streams) == n
        if not any(not s.done for s in streams):
            return
        b = bucket_of(n, self.max_rows)
        lengths = self.talker.cache.lengths
        width = bucket_of(int(lengths[:n].max()) + 1, self.max_len, MIN_WIDTH)
        out = self._run_frame(b, width).cpu()  # the one device -> host copy of the frame
        lengths[:n] += 1
        self.steps += 1
        for i, s in enumerate(streams):
            if s.done:
                continue
            s.frames.append(out[i, :16].clone())
            s.tokens.append(int(out[i, 0]))
            if out[i, 16]:
                s.done = True

    def warmup(self, rows: list[int] | None = None, widths: list[int] | None = None) -> float:
        """Compile / capture the step for every (rows, width) bucket while no row is live; returns seconds."""
        assert self.talker.rows == 0, "warm up before any request joins"
        t0 = time.perf_counter()
        rows = rows or buckets(self.max_rows)
        widths = widths or buckets_from(MIN_WIDTH, self.max_len)
        with torch.no_grad():
            for b in rows:
                for w in widths:
                    if self.cuda_graphs:
                        self._capture(b, w)
                    else:
                        self._frame_fn(b, w)
        self.warmup_seconds = time.perf_counter() - t0
        log.info("qwen3 static: warm-up of %d row x %d width buckets took %.1f s (%s)", len(rows), len(widths),
                 self.warmup_seconds, "CUDA graphs" if self.cuda_graphs else "compiled" if self.compile else "eager")
        return self.warmup_seconds

    def _capture(self, b: int, width: int) -> None:
        """Capture the step of one bucket as a CUDA graph (all rows inactive: the run changes no live state)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self._frame_fn(b, width)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self._pool):
            out = self._frame_fn(b, width)
        self._graphs[(b, width)] = (graph, out)

    def stats(self) -> dict[str, Any]:
        return {**self.talker.stats(), "decode": "static", "compiled": self.compile, "cuda_graphs": len(self._graphs),
                "max_len": self.max_len, "warmup_seconds": round(self.warmup_seconds, 2)}


def buckets_from(floor: int, limit: int) -> list[int]:
    """Powers of two from ``floor`` below ``limit``, then ``limit``."""
    return [w for w in buckets(limit) if w >= floor] or [limit]


class StaticGeneration(TorchGeneration):
    """The torch generation with the static-shape step: compiled on CPU (``compile=1``), CUDA graphs on a GPU."""

    def __init__(self, context: GenerationContext) -> None:
        self.options = dict(context.options)
        self.worker = context.worker
        super().__init__(context)

    def make_decode(self, context: GenerationContext) -> StaticDecode:
        return StaticDecode(context.runner, context.batch_size, context.options)

    async def start(self) -> None:
        decode = self.decode
        assert isinstance(decode, StaticDecode)
        if decode.cuda_graphs or _truthy(self.options.get("warmup"), False):
            await self.worker.run(decode.warmup)
        await super().start()
