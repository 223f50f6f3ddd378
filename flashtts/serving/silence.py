"""Pauses of an exact length: an engine's own silence at a segment's edges measured, to be cut.

An engine pads each segment with quiet (Piper: 0.04-0.07 s before a sentence and 0.10-0.21 s after,
below -40 dB); a ``<break time="700ms"/>`` inserted as plain zeros between two segments would be
heard as 0.85-0.95 s. So at a pause the segment before loses its quiet tail and the one after its
quiet head, down to a short margin, and the pause is exactly as asked.
"""

from __future__ import annotations

import numpy as np

FRAME = 0.010
"""Seconds of one analysis frame."""
THRESHOLD_DB = -40.0
"""A frame quieter than this relative to the chunk's peak counts as silence."""
MARGIN = 0.010
"""Seconds of the quiet edge kept next to the speech (a softer onset, no click)."""


def _loud_frames(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    size = max(1, int(rate * FRAME))
    count = len(samples) // size
    if count == 0:
        return np.zeros(0, dtype=bool), size
    frames = np.abs(samples[: count * size]).reshape(count, size).max(axis=1)
    peak = float(frames.max())
    if peak <= 1e-6:
        return np.zeros(count, dtype=bool), size
    return frames > peak * 10 ** (THRESHOLD_DB / 20), size


def quiet_head(samples: np.ndarray, rate: int) -> int:
    """How many samples at the start of ``samples`` are quiet (less the margin); 0 when none are loud."""
    loud, size = _loud_frames(samples, rate)
    if not loud.any():
        return 0
    return max(0, int(np.argmax(loud)) * size - int(rate * MARGIN))


def quiet_tail(samples: np.ndarray, rate: int) -> int:
    """How many samples at the end of ``samples`` are quiet (less the margin); 0 when none are loud."""
    loud, size = _loud_frames(samples, rate)
    if not loud.any():
        return 0
    end = (len(loud) - int(np.argmax(loud[::-1]))) * size
    return max(0, len(samples) - end - int(rate * MARGIN))


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)), dtype=np.float32)
