"""The torch generation's decode loop: one talker step for all streams, then the 15 code-predictor steps.

The talker runs in a :class:`~.torch_talker.TorchTalker` with one KV row per stream; one talker
step serves every active stream, the code predictor runs batched across them, and sampling is per
stream (own options, own random numbers) through :func:`~.sampling.sample`. Everything here runs
on the engine's model thread.
"""

from __future__ import annotations

from typing import Any

import torch

from .model import Qwen3Runner, Stream
from .sampling import sample
from .torch_talker import TorchTalker


def _past_hidden(s: Stream) -> torch.Tensor:
    assert s.past_hidden is not None, "stream not prefilled"
    return s.past_hidden


class TorchDecode:
    """Prefill and per-frame steps of many streams on one loaded checkpoint (rows in talker order)."""

    def __init__(self, runner: Qwen3Runner, max_rows: int) -> None:
        self.runner = runner
        self.talker = TorchTalker(runner.talker, max_rows)
        self.frame = runner.frame

    @property
    def rows(self) -> int:
        return self.talker.rows

    def remove(self, row: int) -> int | None:
        """Drop ``row`` from the talker batch; returns the former index of the row moved into its place."""
        return self.talker.remove(row)

    def stats(self) -> dict[str, Any]:
        return self.talker.stats()

    def _pick_talker_tokens(self, streams: list[Stream], logits: torch.Tensor) -> list[int]:
        dev = logits.device
        logits = self.frame.codebook0_logits(
            logits, torch.stack([s.seen for s in streams]),
            torch.tensor([s.sampling.repetition_penalty for s in streams], device=dev),
            torch.tensor([len(s.tokens) < 2 or s.sampling.ignore_eos for s in streams], device=dev))
        toks = sample(logits, [s.sampling for s in streams], [s.randoms for s in streams]).tolist()
        for s, t in zip(streams, toks, strict=True):
            s.tokens.append(t)
            s.seen[t] = True
        return toks

    @torch.no_grad()
    def prefill(self, streams: list[Stream]) -> None:
        """Append new streams to the talker batch (one forward for all) and pick their first tokens."""
        if not streams:
            return
        logits, hidden = self.talker.prefill([s.prompt.embeds for s in streams])
        toks = self._pick_talker_tokens(streams, logits)
        for i, (s, t) in enumerate(zip(streams, toks, strict=True)):
            s.past_hidden = hidden[i]
            s.pending = t
            if s.sampling.max_frames <= 0 or t == self.runner.eos:
                s.done = True

    @torch.no_grad()
    def predict_codes(self, streams: list[Stream]) -> torch.Tensor:
        """The 15 code-predictor steps for every stream at once -> full frames ``(B, 16)``."""
        tok0 = torch.tensor([s.pending for s in streams], device=self.runner.device)
        rows = [s.sampling.predictor for s in streams]
        randoms = [s.randoms for s in streams]
        hidden = torch.stack([_past_hidden(s) for s in streams])
        return self.frame.residual_codes(hidden, tok0, lambda _g, logits: sample(logits, rows, randoms))

    def _next_embeds(self, streams: list[Stream], frames: torch.Tensor) -> torch.Tensor:
        text = []
        for s in streams:
            tr = s.prompt.trailing
            text.append(tr[s.step] if s.step < tr.shape[0] else s.prompt.tts_pad)
        return self.frame.next_input(frames, torch.stack(text))

    @torch.no_grad()
    def step(self, streams: list[Stream]) -> None:
        """One frame for every stream (all rows of the talker, in row order)."""
        live = [s for s in streams if not s.done]
        assert len(streams) == self.talker.rows
        if not live:
            return
        frames = self.predict_codes(streams)
        for i, s in enumerate(streams):
            if not s.done:
                s.frames.append(frames[i])
                if s.n_frames >= s.sampling.max_frames:
                    s.done = True
        if all(s.done for s in streams):
            return
        x = self._next_embeds(streams, frames)
        logits, hidden = self.talker.decode(x)
        rows = [i for i, s in enumerate(streams) if not s.done]
        toks = self._pick_talker_tokens([streams[i] for i in rows], logits[rows])
        for i, t in zip(rows, toks, strict=True):
            s = streams[i]
            s.step += 1
            s.past_hidden = hidden[i]
            s.pending = t
            if t == self.runner.eos:
                s.done = True
