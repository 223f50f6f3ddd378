"""SSML, inline forms and pronunciations through the serving layer, in-process on the fake engine.

What the engine is asked (texts, voices, speeds, pauses, IPA pieces), what the client gets (silence
of the asked length, headers, 400s that say where) and that a hostile document synthesises nothing.
Acceptance on the real Piper voice is in ``tests/test_ssml_live.py``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import numpy as np
import pytest
import soundfile as sf
from hostile_ssml import HOSTILE

from flashtts.config.settings import ServerConfig
from flashtts.engine import Capabilities, Piece
from flashtts.serving import SpeechService, silence
from flashtts.serving.live import LiveOptions, LiveSpeech
from flashtts.voices.registry import SpeakerRegistry

from fakes import FakeEngine
from support import app_client

TONE = 0.25  # seconds of each fake chunk
OUT = 24000  # the answer's sample rate


def _config(tmp_path, **kw) -> ServerConfig:
    return ServerConfig(role_dir=tmp_path / "roles", **kw)


async def _speak(client, text: str, **extra):
    body = {"input": text, "voice": "tone", "response_format": "wav", "stream": False, **extra}
    # ASCII JSON: a lone surrogate travels as a JSON escape, as a hostile client would send it
    return await client.post("/v1/audio/speech", content=json.dumps(body),
                             headers={"Content-Type": "application/json"})


def _quiet_runs(samples: np.ndarray) -> list[float]:
    """Lengths in seconds of the runs of near-silence (the fake's tone is never that quiet twice in a row)."""
    zero = np.concatenate([[False], np.abs(samples) < 1e-3, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(int)))
    return [(b - a) / OUT for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 4]


async def test_break_is_silence_of_its_length_between_two_segments(tmp_path):
    engine = FakeEngine(chunks=1, chunk_seconds=TONE)
    async with app_client(_config(tmp_path), engine) as client:
        r = await _speak(client, '<speak>First one. <break time="700ms"/> Second one.</speak>')
    assert r.status_code == 200, r.text
    assert [q.text for q in engine.requests] == ["First one.", "Second one."]
    assert [q.pause_before for q in engine.requests] == [0.0, pytest.approx(0.7)]
    samples, rate = sf.read(io.BytesIO(r.content), dtype="float32")
    assert rate == OUT
    # the fake's tone has no quiet edges to trim: the pause is all the silence (less the kept margins)
    assert _quiet_runs(samples) == [pytest.approx(0.7 - 2 * silence.MARGIN, abs=0.002)]
    assert len(samples) / OUT == pytest.approx(2 * TONE + 0.7 - 2 * silence.MARGIN, abs=0.002)


async def test_inline_pause_and_a_trailing_break(tmp_path):
    engine = FakeEngine(chunks=1, chunk_seconds=TONE)
    async with app_client(_config(tmp_path), engine) as client:
        inline = await _speak(client, "One here. [pause:0.5s] Two here.")
        trailing = await _speak(client, '<speak>Only one.<break time="1s"/></speak>')
        raw = await _speak(client, "One here. [pause:0.5s] Two here.", normalize=False)
    assert inline.status_code == trailing.status_code == raw.status_code == 200
    assert [q.pause_before for q in engine.requests[:2]] == [0.0, pytest.approx(0.5)]
    tail, _ = sf.read(io.BytesIO(trailing.content), dtype="float32")
    assert len(tail) / OUT == pytest.approx(TONE + 1.0 - silence.MARGIN, abs=0.002)
    assert "[pause:0.5s]" in engine.requests[-1].text  # normalize false: inline forms are not read


async def test_sub_say_as_prosody_and_ignored_elements(tmp_path):
    engine = FakeEngine(chunks=1)
    doc = ('<speak><sub alias="World Wide Web Consortium">W3C</sub> sets standards. '
           '<s>Call <say-as interpret-as="characters">NASA</say-as> today.</s>'
           '<prosody rate="slow" volume="loud">Slowly now.</prosody> <emphasis>Really</emphasis> done.</speak>')
    async with app_client(_config(tmp_path), engine) as client:
        r = await _speak(client, doc, speed=1.5)
    assert r.status_code == 200, r.text
    texts = [q.text for q in engine.requests]
    assert texts[:2] == ["World Wide Web Consortium sets standards.", "Call N, A, S, A, today."]
    slow = next(q for q in engine.requests if q.text.startswith("Slowly"))
    assert slow.speed == pytest.approx(1.5 * 0.64) and slow.gain > 1.0
    assert engine.requests[0].speed == pytest.approx(1.5)
    assert "emphasis" in r.headers["x-ssml-ignored"]


async def test_voice_switches_mid_document_and_is_logged(tmp_path, caplog):
    engine = FakeEngine(chunks=1, voices=("tone", "hum"))
    caplog.set_level(logging.INFO, "flashtts.requests")
    async with app_client(_config(tmp_path), engine) as client:
        r = await _speak(client, '<speak>Hello there. <voice name="hum">And hello back.</voice></speak>')
        bad = await _speak(client, '<speak>Hello. <voice name="nobody">No.</voice></speak>')
    assert r.status_code == 200, r.text
    assert [(q.voice, q.text) for q in engine.requests] == [("tone", "Hello there."), ("hum", "And hello back.")]
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "flashtts.requests"]
    assert lines[0]["voice"] == "tone, hum"
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "voice_not_found"
    assert len(engine.requests) == 2


async def test_ssml_on_multi_speak_and_speak(tmp_path):
    engine = FakeEngine(chunks=1, voices=("tone", "hum"))
    async with app_client(_config(tmp_path), engine) as client:
        multi = await client.post("/multi_speak", json={
            "text": '<speak>Hi. <voice name="hum">Yo.</voice></speak>', "response_format": "wav"})
        speak = await client.post("/speak", json={
            "name": "tone", "text": '<speak><sub alias="Doctor">Dr.</sub> Who.</speak>', "response_format": "wav"})
    assert multi.status_code == speak.status_code == 200
    assert [(q.voice, q.text) for q in engine.requests] == [("tone", "Hi."), ("hum", "Yo."), ("tone", "Doctor Who.")]


async def test_malformed_document_is_400_with_line_and_column(tmp_path):
    engine = FakeEngine(chunks=1)
    async with app_client(_config(tmp_path), engine) as client:
        r = await _speak(client, "<speak>\n  <s>hello <prosody>world</s>\n</speak>")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "input" and err["code"] == "ssml_malformed"
    assert "line 2, column" in err["message"]
    assert engine.requests == []


async def test_hostile_documents_are_4xx_with_nothing_synthesised(tmp_path):
    engine = FakeEngine(chunks=1)
    async with app_client(_config(tmp_path), engine) as client:
        for name, (doc, _) in HOSTILE.items():
            r = await _speak(client, doc)
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:200])
            assert r.json()["error"]["code"], name
        for text in ("<speak><break/></speak>", "<speak>  <!-- nothing --> </speak>", "[pause:1s]",
                     "[pause:forever] go", "[pause:11s] go", "go [pause:9s]" * 8):
            r = await _speak(client, text)
            assert r.status_code == 400, (text[:40], r.text)
        assert engine.requests == []
        ok = await _speak(client, "Still here.")
    assert ok.status_code == 200 and len(engine.requests) == 1


async def test_phoneme_needs_the_capability(tmp_path):
    doc = '<speak>The <phoneme alphabet="ipa" ph="ɡɜːl">boy</phoneme> was there.</speak>'
    plain = FakeEngine(chunks=1)
    async with app_client(_config(tmp_path), plain) as client:
        refused = await _speak(client, doc)
        inline = await _speak(client, "The [boy](/ɡɜːl/) was there.")
    assert refused.status_code == 400
    err = refused.json()["error"]
    assert err["code"] == "unsupported_capability" and "cannot take phonemes" in err["message"]
    # inline and lexicon IPA fall back to the written word on an engine without phonemes, and say so
    assert inline.status_code == 200 and plain.requests[0].text == "The boy was there."
    assert plain.requests[0].pieces == ()
    assert "pronunciation-ipa" in inline.headers["x-ssml-ignored"]

    phonemes = FakeEngine(Capabilities(speed=True, phonemes=True), chunks=1)
    async with app_client(_config(tmp_path), phonemes) as client:
        spoken = await _speak(client, doc)
    assert spoken.status_code == 200
    assert phonemes.requests[0].pieces == (Piece("The "), Piece("boy", "ɡɜːl"), Piece(" was there."))


async def test_request_pronunciations_and_server_lexicon(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("# test\nSQL = sequel\nkubectl = /ˈkjuːb kənˌtɹoʊl/ cube control\n", encoding="utf-8")
    engine = FakeEngine(chunks=1)
    async with app_client(_config(tmp_path, lexicon=lexicon), engine) as client:
        r = await _speak(client, "Use SQL and kubectl with MySQL.", pronunciations={"MySQL": "my sequel"})
        listed = await _speak(client, "Say boy.", pronunciations=[{"word": "boy", "respelling": "girl"}])
        bad = await _speak(client, "x", pronunciations={"x": "/1 2 3/"})
        many = await _speak(client, "x", pronunciations={f"w{i}": "word" for i in range(101)})
        info = (await client.get("/server_info")).json()
    assert r.status_code == listed.status_code == 200
    assert engine.requests[0].text == "Use sequel and cube control with my sequel."
    assert engine.requests[1].text == "Say girl."
    assert bad.status_code == many.status_code == 400
    assert info["lexicon"]["entries"] == 2 and info["lexicon"]["error"] is None


async def test_a_live_session_speaks_an_ssml_document_whole_at_its_end(tmp_path):
    """WebSocket and Wyoming streams: a session whose text starts with <speak> is one document, not sentences."""
    engine = FakeEngine(chunks=1, chunk_seconds=0.05)
    config = _config(tmp_path)
    service = SpeechService(config, engine, SpeakerRegistry(config.role_dir), engine.metrics)
    live = LiveSpeech.open(service, "test", LiveOptions(service.voices.resolve_voice("tone")), "addr:192.0.2.1")
    seen = []

    async def consume() -> None:
        async for event in live.events():
            seen.append(event)

    task = asyncio.create_task(consume())
    for piece in ("<speak>First one. ", '<break time="300ms"/>', " Second ", "one.</speak>"):
        live.add(piece)
        live.flush()
    await asyncio.sleep(0.05)
    assert engine.requests == []  # nothing is said before the document is whole
    live.end()
    await asyncio.wait_for(task, 10)
    live.close()
    assert [(q.text, q.pause_before) for q in engine.requests] == [("First one.", 0.0),
                                                                   ("Second one.", pytest.approx(0.3))]


async def test_a_roles_pronunciations_are_managed_stored_and_applied(tmp_path):
    engine = FakeEngine(chunks=1)
    async with app_client(_config(tmp_path), engine) as client:
        assert (await client.post("/add_speaker", data={"name": "ann", "voice": "tone"})).status_code == 200
        base = "/roles/ann/lexicon"
        assert (await client.get(base)).json() == {"role": "ann", "entries": []}
        put = await client.put(base, json={"entries": [
            {"word": "SQL", "respelling": "sequel"},
            {"word": "nginx", "ipa": "ˈɛndʒɪnˈɛks", "respelling": "engine x"}]})
        assert put.status_code == 200 and len(put.json()["entries"]) == 2
        added = await client.post(base, json={"word": "sql", "respelling": "squeal"})  # a new key beside "SQL"
        assert [e["word"] for e in added.json()["entries"]] == ["SQL", "nginx", "sql"]
        bad = await client.post(base, json={"word": "x", "ipa": "1/2"})
        missing = await client.get("/roles/nobody/lexicon")
        gone = await client.delete(base + "/sql")
        again = await client.delete(base + "/sql")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_lexicon"
        assert missing.status_code == 404 and gone.status_code == 200 and again.status_code == 404
        spoken = await client.post("/speak", json={"name": "ann", "text": "SQL on nginx, sql.",
                                                    "response_format": "wav"})
        other = await client.post("/speak", json={"name": "tone", "text": "SQL here.", "response_format": "wav"})
        # the request's own entries go over the role's
        override = await client.post("/speak", json={"name": "ann", "text": "SQL.", "response_format": "wav",
                                                     "pronunciations": {"SQL": "ess queue ell"}})
    assert spoken.status_code == other.status_code == override.status_code == 200
    assert [q.text for q in engine.requests] == ["sequel on engine x, sql.", "SQL here.", "ess queue ell."]
    async with app_client(_config(tmp_path), FakeEngine(chunks=1)) as client:  # stored with the role
        assert [e["word"] for e in (await client.get("/roles/ann/lexicon")).json()["entries"]] == ["SQL", "nginx"]
        refused = await client.post("/v1/audio/phonemize", json={"input": "hello"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsupported_capability"
