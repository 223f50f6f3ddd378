"""Voice mixes as Kokoro-FastAPI writes them: ``af_bella(2)+af_sky(1)``, or ``af_bella+af_sky`` for equal parts.

A mix is voices joined by ``+``, each with an optional positive weight in parentheses (default 1).
:func:`parse_mix` reads one and says exactly what is wrong with a malformed one; weights are
normalised to sum to one (the style an engine blends is the weighted mean), and a voice named
twice adds up its weights. Which names exist, and whether the engine can blend at all, the serving
layer checks (:mod:`flashtts.serving.voices`); the blending is the engine's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_PARTS = 16
_PART = re.compile(r"^(?P<name>[^()+]+?)\s*(?:\((?P<weight>[^()]*)\))?$")


class MixError(ValueError):
    """A malformed mix; the message names the problem."""


@dataclass(frozen=True)
class VoiceMix:
    parts: tuple[tuple[str, float], ...]
    """(voice, weight) in the order written, weights summing to one."""

    @property
    def name(self) -> str:
        """The mix written canonically (weights as fractions of one), e.g. ``af_bella(0.667)+af_sky(0.333)``."""
        return "+".join(f"{voice}({weight:.4g})" for voice, weight in self.parts)

    @property
    def voices(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.parts)


def looks_like_mix(value: str) -> bool:
    """True when a voice name is written as a mix (has ``+`` or a parenthesised weight)."""
    return "+" in value or "(" in value or ")" in value


def parse_mix(value: str) -> VoiceMix:
    """The mix ``value`` writes; :class:`MixError` naming what is malformed (an empty part, a weight that
    is not a number, a weight <= 0, unbalanced parentheses, too many parts)."""
    parts = value.split("+")
    if len(parts) > MAX_PARTS:
        raise MixError(f"voice mix '{value}' has {len(parts)} parts; at most {MAX_PARTS}")
    weights: dict[str, float] = {}
    for number, raw in enumerate(parts, 1):
        part = raw.strip()
        if not part:
            raise MixError(f"voice mix '{value}': part {number} is empty (write voice(weight)+voice(weight))")
        match = _PART.match(part)
        if match is None:
            raise MixError(f"voice mix '{value}': part '{part}' is not voice or voice(weight)")
        name = match["name"].strip()
        weight = 1.0
        if match["weight"] is not None:
            text = match["weight"].strip()
            try:
                weight = float(text)
            except ValueError:
                raise MixError(f"voice mix '{value}': weight '{text}' of '{name}' is not a number") from None
            if not math.isfinite(weight) or weight <= 0:
                raise MixError(f"voice mix '{value}': weight of '{name}' is {text}; weights must be > 0")
        weights[name] = weights.get(name, 0.0) + weight
    total = sum(weights.values())
    if not math.isfinite(total):
        raise MixError(f"voice mix '{value}': the weights add up to more than a float holds; use smaller ones")
    return VoiceMix(tuple((name, w / total) for name, w in weights.items()))
