"""Acceptance of issue 21 on a real server with the real Piper voice (joe), heard by faster-whisper.

One server for the module, started with a ``--lexicon`` file and a role that speaks joe faster.
Breaks are measured in the decoded audio (the quiet between the two sentences' speech, -40 dB in
10 ms frames); ``<sub>``, ``<say-as characters>``, a lexicon entry, an inline ``[word](/ipa/)`` and a
``<phoneme>`` are asserted on whisper's transcript; ``<voice>`` on the request log; ``<prosody
rate="slow">`` on the speech's length. Hostile documents are in ``tests/test_bad_input.py``.
"""

from __future__ import annotations

import io
import json
import re

import httpx
import numpy as np
import pytest
import soundfile as sf

from live import log_mark, serving, to_16k
from support import HARVARD

pytestmark = pytest.mark.slow

BREAK = 0.7
BREAK_TOLERANCE = 0.04
SLOW = 1 / 0.64
"""``<prosody rate="slow">`` speaks at 0.64x (docs/ssml.md): the speech lasts this many times as long."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ssml")
    lexicon = tmp / "lexicon.txt"
    lexicon.write_text("# acceptance: a word said as another\nbox = /kɹˈeɪt/\n", encoding="utf-8")
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--lexicon", str(lexicon)) as s:
        r = httpx.post(s.url + "/add_speaker", data={"name": "quick", "voice": "joe", "speed": "1.4"}, timeout=60)
        assert r.status_code == 200, r.text
        yield s
    assert "Traceback" not in s.log(), s.log()


def _speech(server, text: str, **extra) -> httpx.Response:
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
        "model": "tts-1", "voice": "joe", "input": text, "response_format": "wav", "stream": False, **extra})
    assert r.status_code == 200, r.text
    return r


def _samples(r: httpx.Response) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(r.content), dtype="float32")
    return samples, rate


def _loud(samples: np.ndarray, rate: int) -> np.ndarray:
    size = int(rate * 0.01)
    frames = np.abs(samples[: len(samples) // size * size]).reshape(-1, size).max(axis=1)
    return frames > frames.max() * 10 ** (-40 / 20)


def _longest_gap(samples: np.ndarray, rate: int) -> float:
    """Seconds of the longest quiet run between speech (10 ms frames)."""
    loud = np.flatnonzero(_loud(samples, rate))
    return float(np.max(np.diff(loud)) - 1) * 0.01


def _speech_seconds(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first loud frame to the last (the voice's own edge quiet left out)."""
    loud = np.flatnonzero(_loud(samples, rate))
    return float(loud[-1] - loud[0] + 1) * 0.01


def _words(transcript: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", transcript.lower())


def _heard(server, transcribe, text: str, **extra) -> list[str]:
    return _words(transcribe(to_16k(_speech(server, text, **extra).content, "wav")))


@pytest.mark.parametrize("text", [
    f'<speak>{HARVARD[0]} <break time="700ms"/> {HARVARD[2]}</speak>',
    f"{HARVARD[0]} [pause:0.7s] {HARVARD[2]}",
], ids=["ssml-break", "inline-pause"])
def test_a_break_is_silence_of_that_length(server, text):
    gaps = [_longest_gap(*_samples(_speech(server, text))) for _ in range(2)]
    for gap in gaps:
        assert abs(gap - BREAK) <= BREAK_TOLERANCE, gaps
    plain = _longest_gap(*_samples(_speech(server, f"{HARVARD[0]} {HARVARD[2]}")))
    assert plain < BREAK - 0.3, plain  # without the break the sentences are much closer


def test_sub_and_say_as_characters_are_heard(server, transcribe):
    sub = _heard(server, transcribe, '<speak><sub alias="World Wide Web Consortium">W3C</sub> sets standards.</speak>')
    assert "world wide web consortium" in " ".join(sub), sub
    letters = _heard(server, transcribe, '<speak>Call <say-as interpret-as="characters">NASA</say-as> today.</speak>')
    assert "nasa" not in letters, letters
    # whisper writes the spelled letters as single letters (now and then "m" or "in" for the N)
    assert sum(w in ("a", "s") for w in letters) >= 3, letters


def test_lexicon_inline_and_phoneme_pronunciations_are_heard(server, transcribe):
    lexicon = _heard(server, transcribe, HARVARD[2])  # the server's lexicon: box = /kɹˈeɪt/
    assert "crate" in lexicon and "box" not in lexicon, lexicon
    inline = _heard(server, transcribe, "The [boy](/ɡˈɜːl/) was there when the sun rose.")
    assert "girl" in inline and "boy" not in inline, inline
    ssml = _heard(server, transcribe,
                  '<speak>The <phoneme alphabet="ipa" ph="ɡˈɜːl">boy</phoneme> was there when the sun rose.</speak>')
    assert "girl" in ssml and "boy" not in ssml, ssml
    plain = _heard(server, transcribe, HARVARD[1])
    assert "boy" in plain, plain  # without them the word is said as written


def test_voice_switches_mid_document(server):
    mark = log_mark(server)
    r = _speech(server, f'<speak>{HARVARD[0]} <voice name="quick">{HARVARD[2]}</voice></speak>')
    assert r.status_code == 200
    log = server.log_path.read_bytes()[mark:].decode(errors="replace")
    lines = [json.loads(line[line.index("{"):]) for line in log.splitlines()
             if '"request_id"' in line and "/v1/audio/speech" in line]
    assert lines and lines[-1]["voice"] == "joe, quick" and lines[-1]["segments"] == 2, lines


def test_prosody_slow_lengthens_speech_by_its_factor(server):
    text = f"{HARVARD[0]} {HARVARD[2]}"
    normal = [_speech_seconds(*_samples(_speech(server, text))) for _ in range(2)]
    slow = [_speech_seconds(*_samples(_speech(server, f'<speak><prosody rate="slow">{text}</prosody></speak>')))
            for _ in range(2)]
    ratio = float(np.median(slow) / np.median(normal))
    assert abs(ratio - SLOW) <= 0.1 * SLOW, (ratio, normal, slow)


def test_word_timings_follow_the_markup(server):
    """Words are those said (alias, letters) or written (a respelled word), and move with a break."""
    doc = ('<speak><sub alias="World Wide Web Consortium">W3C</sub> is here. <break time="1s"/> '
           'Call <say-as interpret-as="characters">NASA</say-as> now.</speak>')
    r = httpx.post(server.url + "/v1/audio/speech/captioned", timeout=120,
                   json={"voice": "joe", "input": doc, "response_format": "wav"})
    assert r.status_code == 200, r.text
    words = r.json()["words"]
    assert [w["word"] for w in words] == ["World", "Wide", "Web", "Consortium", "is", "here", "Call", "N", "A", "S",
                                          "A", "now"]
    here, call = words[5], words[6]
    assert 0.95 <= call["start"] - here["end"] <= 1.3, (here, call)  # the break, and a little of Piper's own edge
    r = httpx.post(server.url + "/v1/audio/speech/captioned", timeout=120, json={
        "voice": "joe", "input": "I use SQL every day.", "pronunciations": {"SQL": "sequel"}, "response_format": "wav"})
    assert [w["word"] for w in r.json()["words"]] == ["I", "use", "SQL", "every", "day"]
