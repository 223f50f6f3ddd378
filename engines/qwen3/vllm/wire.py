"""The one encoding of a request's own data in vLLM's ``SamplingParams.extra_args``, both ways.

flashtts (:mod:`.talker`) encodes; the model in vLLM's worker (:mod:`.model`) decodes: the
request's key, its trailing text embeddings and pad embedding (float32 bytes), and its whole
:class:`~..sampling.Sampling` (:meth:`~..sampling.Sampling.to_wire`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..sampling import Sampling

EXTRA_KEY = "flashtts"


@dataclass
class WireRequest:
    key: str
    trailing: torch.Tensor  # (N, D) text embeddings consumed one per decode step
    pad: torch.Tensor  # (D,) added once the trailing text is used up
    sampling: Sampling


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()


def encode_request(key: str, trailing: torch.Tensor, pad: torch.Tensor, sampling: Sampling) -> dict[str, Any]:
    """``extra_args`` for one request."""
    pad = pad.reshape(-1)
    return {EXTRA_KEY: {"key": key, "dim": int(pad.numel()), "trailing": _bytes(trailing), "pad": _bytes(pad),
                        "sampling": sampling.to_wire()}}


def decode_request(extra_args: Mapping[str, Any] | None) -> WireRequest | None:
    """The request encoded in ``extra_args`` (``None`` for requests that are not flashtts's)."""
    args = (extra_args or {}).get(EXTRA_KEY)
    if not args:
        return None
    dim = int(args["dim"])
    trailing = torch.frombuffer(bytearray(args["trailing"]), dtype=torch.float32).view(-1, dim)
    pad = torch.frombuffer(bytearray(args["pad"]), dtype=torch.float32).view(dim)
    return WireRequest(key=str(args["key"]), trailing=trailing, pad=pad, sampling=Sampling.from_wire(args["sampling"]))
