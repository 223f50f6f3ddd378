"""The runaway guard: a segment's frames capped from its text, so a missed end-of-speech ends early.

A model that never emits end-of-speech would otherwise talk noise up to ``max_new_tokens`` (minutes
of audio). Speech runs at most a few frames (80 ms each) per character: about 1 for alphabetic
scripts at a normal pace, about 3-4 for Chinese / Japanese / Korean characters, which carry a
syllable each. The cap allows several times that plus a margin; a segment that reaches it is
counted in ``/metrics`` (``runaway_segments_total``) and logged.

Engine options: ``runaway_frames_per_char`` (alphabetic and other characters, default 3),
``runaway_frames_per_cjk_char`` (default 8), ``runaway_margin_frames`` (default 40, 3.2 s),
``runaway_guard=0`` turns it off. Requests with ``fixed_frames`` (benchmarks) are never capped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# CJK ideographs, kana, Hangul: a syllable per character
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
               (0x20000, 0x2FA1F))


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _CJK_RANGES)


@dataclass(frozen=True)
class RunawayGuard:
    """Frames allowed for a text: characters x a per-script bound + a margin."""

    frames_per_char: float = 3.0
    frames_per_cjk_char: float = 8.0
    margin_frames: int = 40
    enabled: bool = True

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RunawayGuard:
        def num(key: str, default: float) -> float:
            v = options.get(key)
            return default if v is None or v == "" else float(v)

        enabled = str(options.get("runaway_guard", "1")).lower() not in ("0", "false", "no", "off")
        return cls(frames_per_char=num("runaway_frames_per_char", cls.frames_per_char),
                   frames_per_cjk_char=num("runaway_frames_per_cjk_char", cls.frames_per_cjk_char),
                   margin_frames=int(num("runaway_margin_frames", cls.margin_frames)), enabled=enabled)

    def cap(self, text: str) -> int | None:
        """The most frames ``text`` may take (``None`` when the guard is off)."""
        if not self.enabled:
            return None
        chars = [c for c in text if not c.isspace()]
        cjk = sum(1 for c in chars if _is_cjk(c))
        bound = cjk * self.frames_per_cjk_char + (len(chars) - cjk) * self.frames_per_char
        return int(math.ceil(bound)) + self.margin_frames
