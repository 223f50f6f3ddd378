"""How one Qwen3 request samples: the one :class:`Sampling` type, from the request to the samplers.

A request's :class:`~flashtts.engine.GenerationOptions` become a :class:`Sampling` (request value,
else the checkpoint's ``generation_config.json``, else the field's default here, the reference
``generate`` defaults). Every generation uses it as it is: the torch decode step samples with
:func:`sample`, and the vLLM talker sends it to its worker in ``SamplingParams.extra_args`` through
:meth:`Sampling.to_wire` / :meth:`Sampling.from_wire`, where the code predictor samples with the
same :func:`sample`, a wrapper over the static step's :func:`~.device_sampling.sample_rows`. A new
sampling option is one field here plus its use in ``sample_rows`` (and, for codebook 0 under vLLM, in
the vLLM ``SamplingParams``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from flashtts.engine import GenerationOptions

from .device_sampling import RowParams, sample_rows

# the reference's generation_config.json names of the code predictor's ("subtalker") options
_CHECKPOINT_NAMES = {"subtalker_dosample": "sub_do_sample", "subtalker_temperature": "sub_temperature",
                     "subtalker_top_k": "sub_top_k", "subtalker_top_p": "sub_top_p"}
# a request's option also sets the code predictor's option of the same meaning
_PREDICTOR_TWIN = {"temperature": "sub_temperature", "top_k": "sub_top_k", "top_p": "sub_top_p"}


@dataclass(frozen=True)
class Sampling:
    """Sampling of one request: codebook 0 (the talker) and codebooks 1..15 (the code predictor, ``sub_*``)."""

    do_sample: bool = True
    temperature: float = 0.9
    top_k: int = 50
    """0 = off."""
    top_p: float = 1.0
    min_p: float = 0.0
    """Drop tokens less likely than ``min_p`` x the most likely one (0 = off); talker and code predictor."""
    repetition_penalty: float = 1.05
    """On codebook 0, over the tokens generated so far."""
    sub_do_sample: bool = True
    sub_temperature: float = 0.9
    sub_top_k: int = 50
    sub_top_p: float = 1.0
    max_frames: int = 2047
    """Most codec frames (the reference computes a frame for every codebook-0 token but the last)."""
    ignore_eos: bool = False
    """Generate exactly ``max_frames`` frames, never stopping at end-of-speech (benchmarks)."""
    seed: int | None = None

    @classmethod
    def from_options(cls, options: GenerationOptions, checkpoint: Mapping[str, Any] | None = None,
                     fixed_frames: int | None = None) -> Sampling:
        """A request's options over the checkpoint's defaults (``generation_config.json``) over ours.

        ``temperature <= 0`` means greedy; the request's temperature / top-k / top-p set both the
        talker's and the code predictor's; ``fixed_frames`` generates exactly that many frames.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in (checkpoint or {}).items():
            key = _CHECKPOINT_NAMES.get(key, key)
            if key in names:
                values[key] = value
        if "max_new_tokens" in (checkpoint or {}):
            values["max_frames"] = int(checkpoint["max_new_tokens"]) - 1  # type: ignore[index]
        greedy = options.temperature is not None and options.temperature <= 0
        for key in names & {f.name for f in dataclasses.fields(options)}:
            value = getattr(options, key)
            if value is not None:
                values[key] = value
                if key in _PREDICTOR_TWIN and not (greedy and key == "temperature"):
                    values[_PREDICTOR_TWIN[key]] = value
        if options.max_new_tokens is not None:
            values["max_frames"] = options.max_new_tokens - 1
        if greedy:
            values["do_sample"] = values["sub_do_sample"] = False
        values["max_frames"] = max(0, int(values.get("max_frames", cls.max_frames)))
        if fixed_frames:
            values["max_frames"], values["ignore_eos"] = int(fixed_frames), True
        return cls(**values)

    @classmethod
    def greedy(cls, max_frames: int, **kw: Any) -> Sampling:
        """Greedy decoding without repetition penalty (the reference's ``generate(do_sample=False, ...)``)."""
        return cls(do_sample=False, sub_do_sample=False, repetition_penalty=1.0, max_frames=max_frames, **kw)

    @functools.cached_property
    def predictor(self) -> Sampling:
        """These options as the code predictor samples: its ``sub_*`` values in the talker's names."""
        return dataclasses.replace(self, do_sample=self.sub_do_sample, temperature=self.sub_temperature,
                                   top_k=self.sub_top_k, top_p=self.sub_top_p)

    @property
    def samples(self) -> bool:
        """True when anything is drawn at random (the stream then needs its own random numbers)."""
        return self.do_sample or self.sub_do_sample

    def to_wire(self) -> dict[str, Any]:
        """Plain values for vLLM's ``SamplingParams.extra_args`` (read back by :meth:`from_wire`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Sampling:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


class Uniforms:
    """A stream's own random numbers: uniforms in [0, 1) from its ``torch.Generator``, drawn in blocks."""

    def __init__(self, seed: int | None, block: int = 64) -> None:
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self.block = block
        self._buf: list[float] = []

    def next(self) -> float:
        if not self._buf:
            self._buf = torch.rand(self.block, dtype=torch.float64, generator=self.generator).tolist()[::-1]
        return self._buf.pop()


class RandomSource(Protocol):
    def next(self) -> float: ...


def sample(logits: torch.Tensor, rows: Sequence[Sampling], randoms: Sequence[RandomSource | None]) -> torch.Tensor:
    """One token per row: argmax for greedy rows, else temperature -> top-k -> top-p -> min-p -> draw.

    :func:`~.device_sampling.sample_rows` with each row's options as row tensors and one uniform per
    sampled row from the row's own source (greedy rows draw none), so a stream's draws do not depend
    on the other rows; the candidates are the top ``max(top_k)`` of the sampled rows (exact for each).
    """
    if not any(s.do_sample for s in rows):
        return logits.argmax(dim=-1)
    vocab = logits.shape[-1]
    u = torch.tensor([_uniform(randoms[i]) if s.do_sample else 0.0 for i, s in enumerate(rows)],
                     dtype=torch.float64, device=logits.device)
    kmax = max(s.top_k if 0 < s.top_k < vocab else vocab for s in rows if s.do_sample)
    return sample_rows(logits, RowParams.of(rows, vocab, logits.device), u, kmax if kmax < vocab else 0)


def _uniform(source: RandomSource | None) -> float:
    if source is None:
        raise ValueError("a sampled row needs a random source")
    return source.next()


def penalize_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """The reference's repetition penalty: ``logits (B, V)`` of ``seen (B, V)`` tokens divided (or,
    when negative, multiplied) by each row's ``penalty (B,)``."""
    penalised = torch.where(logits < 0, logits * penalty[:, None], logits / penalty[:, None])
    return torch.where(seen & (penalty[:, None] != 1.0), penalised, logits)
