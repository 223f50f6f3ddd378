"""Word timings: Piper's phoneme alignments mapped back to the words, checked against whisper's own.

Acceptance: for five sentences, each word's [start, end] contains the time at which
faster-whisper (tiny.en, word timestamps) places the same word, within 0.15 s; the timings are
monotonic and cover the audio.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import httpx
import pytest

from flashtts_engines.piper.alignment import text_words
from flashtts_engines.piper.engine import PiperEngine
from flashtts.audio import decode
from flashtts.config import ServerConfig
from live import assert_openai_error, serving
from support import HARVARD, app_client, word_pairs

pytestmark = pytest.mark.slow

TOLERANCE = 0.15


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("timings")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


def _check_timeline(words: list[dict], duration: float) -> None:
    """Monotonic, inside the audio, and covering it: speech starts and ends near its edges."""
    assert words, "no word timings"
    for w in words:
        assert 0.0 <= w["start"] <= w["end"] <= duration + 0.01, (w, duration)
    for a, b in zip(words, words[1:]):
        assert a["end"] <= b["start"] + 1e-3, (a, b)
    assert words[0]["start"] < 0.35, words[0]
    assert words[-1]["end"] > duration - 0.35, (words[-1], duration)


def test_captioned_words_agree_with_whisper(server, whisper_words):
    checked = 0
    for sentence in HARVARD:
        r = httpx.post(server.url + "/v1/audio/speech/captioned", timeout=120,
                       json={"model": "tts-1", "voice": "joe", "input": sentence, "response_format": "wav"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["format"] == "wav"
        words = body["words"]
        assert [w["word"] for w in words] == [w for _, w in text_words(sentence)]
        _check_timeline(words, body["duration"])

        heard = whisper_words(decode(base64.b64decode(body["audio"]), 16000))
        ours = [w["word"] for w in words]
        # (whisper tiny.en hears Piper's reduced "a" as "the" now and then: still the same spoken word)
        pairs = word_pairs(ours, [w for w, _, _ in heard])
        assert len(pairs) >= len(words) - 2, (sentence, ours, theirs)  # a word or two may be dropped or merged
        for i, j in pairs:
            mid = (heard[j][1] + heard[j][2]) / 2
            w = words[i]
            assert w["start"] - TOLERANCE <= mid <= w["end"] + TOLERANCE, (sentence, w, heard[j])
            checked += 1
    assert checked >= 35


def test_sse_word_events_follow_the_audio(server):
    text = " ".join(HARVARD[:3])
    events = []
    body = {"model": "tts-1", "voice": "joe", "input": text, "response_format": "pcm", "stream_format": "sse",
            "timestamps": True}
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done"
    assert "speech.audio.words" in kinds
    # words arrive with the audio, not all at the end: the first words event comes before the last delta
    last_delta = max(i for i, k in enumerate(kinds) if k == "speech.audio.delta")
    assert kinds.index("speech.audio.words") < last_delta
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert [w["word"] for w in words] == [w for _, w in text_words(text)]
    pcm_seconds = sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta") / 2 / 24000
    _check_timeline(words, pcm_seconds)


def test_timestamps_ask_for_sse(server):
    r = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                   json={"model": "tts-1", "voice": "joe", "input": "Hello there.", "timestamps": True})
    err = assert_openai_error(r, 400)
    assert err["param"] == "timestamps" and "sse" in err["message"]


class _NoTimestamps(PiperEngine):
    """Piper as an engine that cannot time words (the capability switched off)."""

    @property
    def info(self):
        info = super().info
        return replace(info, capabilities=replace(info.capabilities, timestamps=False))


async def test_engine_without_timestamps_answers_400(role_dir):
    from flashtts.engine import EngineConfig
    from flashtts.metrics import Metrics

    async with app_client(ServerConfig(role_dir=role_dir), _NoTimestamps(EngineConfig(), Metrics())) as client:
        for path, extra in (("/v1/audio/speech/captioned", {}),
                            ("/v1/audio/speech", {"stream_format": "sse", "timestamps": True})):
            r = await client.post(path, json={"model": "tts-1", "voice": "joe", "input": "Hello there.", **extra})
            assert r.status_code == 400, r.text
            assert "timestamps" in r.json()["error"]["message"]
