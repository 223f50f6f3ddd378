"""Piper voices in-process: the voice cache's leases, idle and budget eviction; catalogue names and close
names; where ``--model_path`` values point; one copy of a voice's weights whatever its sessions; the
prepared model built once and never half-written."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from flashtts.engine.hub import ModelNotFoundError
from flashtts.memory import release_free_memory, rss_bytes
from flashtts_engines.piper.catalogue import Catalogue, CatalogueVoice, UnknownVoiceError, looks_like_voice_name
from flashtts_engines.piper.prepare import prepared
from flashtts_engines.piper.voice_cache import VoiceCache
from flashtts_engines.piper.voices import bundled_voice, voice_sources

MIB = 2**20


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Path:
    """One prepared-model cache for this module's tests (joe is prepared once)."""
    return tmp_path_factory.mktemp("model-cache")


@dataclass
class Model:
    name: str
    bytes: int = 10 * MIB


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache(budget_mib: float = 0, idle: float = 0, pinned=("a",), clock=None, loads=None):
    loads = loads if loads is not None else []

    def load(name: str) -> Model:
        loads.append(name)
        return Model(name)

    return VoiceCache(load, lambda name: 10 * MIB, budget_bytes=int(budget_mib * MIB), idle_seconds=idle,
                      pinned=pinned, clock=clock or Clock())


def loaded(c: VoiceCache) -> list[str]:
    return [v["id"] for v in c.loaded()]


def test_voices_load_on_first_lease_once_and_stay_while_leased():
    loads: list[str] = []
    clock = Clock()
    c = cache(idle=5, clock=clock, loads=loads)
    assert loaded(c) == []
    assert c.lease("b").name == "b" and c.lease("b").name == "b"
    assert loads == ["b"]
    clock.now = 100
    assert c.evict_idle() == []  # two leases held
    c.release("b")
    c.release("b")
    clock.now = 104
    assert c.evict_idle() == []  # idle for 4 s of 5
    clock.now = 105.5
    assert c.evict_idle() == ["b"] and loaded(c) == [] and c.evictions == 1
    c.lease("b")
    assert loads == ["b", "b"]


def test_the_pinned_voice_is_never_evicted():
    clock = Clock()
    c = cache(idle=1, clock=clock, budget_mib=15)
    c.lease("a")
    c.release("a")
    clock.now = 10
    assert c.evict_idle() == []
    c.lease("b")  # over the budget with a pinned, the new one loads anyway
    assert loaded(c) == ["a", "b"]


def test_the_budget_evicts_the_least_recently_used_idle_voice():
    clock = Clock()
    c = cache(budget_mib=30, clock=clock, pinned=())
    for name in "abc":
        c.lease(name)
        c.release(name)
        clock.now += 1
    c.lease("a")  # a is now the most recent
    c.release("a")
    c.lease("b")  # b is in use
    c.lease("d")  # needs 10 MiB: the least recently used idle voice (c) goes
    assert sorted(loaded(c)) == ["a", "b", "d"]
    c.lease("e")  # b in use, d in use: a goes
    assert sorted(loaded(c)) == ["b", "d", "e"]


def test_concurrent_leases_of_one_voice_load_it_once():
    loads: list[str] = []
    gate = threading.Event()

    def load(name: str) -> Model:
        loads.append(name)
        gate.wait(60)
        return Model(name)

    c: VoiceCache[Model] = VoiceCache(load, lambda name: MIB)
    got: list[Model] = []
    threads = [threading.Thread(target=lambda: got.append(c.lease("x"))) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(60)
    assert loads == ["x"] and len(got) == 4 and len({id(m) for m in got}) == 1
    assert c.loaded()[0]["in_use"] == 4


def test_a_failed_load_leaves_nothing_and_can_be_retried():
    calls = []

    def load(name: str) -> Model:
        calls.append(name)
        if len(calls) == 1:
            raise ModelNotFoundError("offline")
        return Model(name)

    c: VoiceCache[Model] = VoiceCache(load, lambda name: MIB)
    with pytest.raises(ModelNotFoundError):
        c.lease("x")
    assert c.loaded() == []
    assert c.lease("x").name == "x"


@pytest.mark.parametrize(("name", "ok"), [
    ("en_GB-alba-medium", True), ("en_US-lessac-x_low", True), ("de_DE-thorsten_emotional-medium", True),
    ("joe", False), ("en_GB-alba", False), ("../en_GB-alba-medium", False), ("en_GB-alba-medium.onnx", False),
    ("EN_gb-alba-medium", False), ("en_GB-alba-meduim", True), ("en_GB-alba-medium-2", False),
])
def test_catalogue_names(name, ok):
    assert looks_like_voice_name(name) is ok


def _catalogue() -> Catalogue:
    entries = {key: {"language": {"code": key.split("-")[0], "name_english": "English"},
                     "files": {f"en/{key}.onnx": {"size_bytes": 10, "md5_digest": "x"}, f"en/{key}.onnx.json": {}}}
               for key in ("en_GB-alba-medium", "en_GB-alan-low", "en_US-amy-medium", "de_DE-thorsten-medium")}
    return Catalogue({k: CatalogueVoice.from_entry(k, v) for k, v in entries.items()})


def test_an_unknown_name_lists_the_close_ones():
    catalogue = _catalogue()
    assert catalogue.get("en_US-amy-medium").language == "en_US"
    with pytest.raises(UnknownVoiceError) as err:
        catalogue.get("en_GB-alba-mediun")
    assert "en_GB-alba-medium" in str(err.value) and "de_DE" not in str(err.value)
    with pytest.raises(UnknownVoiceError) as err:
        catalogue.get("EN_us-amy-medium")
    assert "close names: en_US-amy-medium" in str(err.value)


def test_model_paths_name_files_folders_and_the_bundled_voice(tmp_path):
    joe = bundled_voice()
    assert [s.id for s in voice_sources([])] == ["joe"]
    assert [s.model for s in voice_sources(["en_US-joe-medium"])] == [joe]  # the bundled one: no download
    folder = tmp_path / "voices"
    folder.mkdir()
    for name in ("en_GB-joe-low", "de_DE-kerstin-low"):
        (folder / f"{name}.onnx").symlink_to(joe)
        (folder / f"{name}.onnx.json").write_text(json.dumps({"language": {"code": name.split("-")[0]}}))
    sources = voice_sources([str(joe), str(folder)])
    assert [(s.id, s.locale) for s in sources] == [("joe", "en_US"), ("kerstin", "de_DE"),
                                                    ("en_GB-joe-low", "en_GB")]  # a second 'joe' keeps its name
    assert sources[1].language_names() == {"de", "de-de"} and "english" in sources[0].language_names()
    with pytest.raises(FileNotFoundError, match="catalogue name"):
        voice_sources([str(tmp_path / "nothing.onnx")])


@pytest.mark.slow
def test_a_voice_keeps_one_copy_of_its_weights_whatever_its_sessions(model_cache, monkeypatch):
    """The one-thread session for sentences beside others adds next to nothing: both sessions use the
    same mapped weights (a session of its own would add about the model's size again)."""
    from piper import SynthesisConfig

    from flashtts_engines.piper.session import VoiceModel

    monkeypatch.setenv("FLASHTTS_CACHE_DIR", str(model_cache))
    model = VoiceModel(bundled_voice(), aligned=True, threads=2)
    ids = model.alone.phonemes_to_ids(model.alone.phonemize("The boy was there when the sun rose.")[0])
    audio, samples = model.alone.phoneme_ids_to_audio(ids, SynthesisConfig(), include_alignments=True)
    assert len(audio) > 22050 and len(samples) == len(ids)  # the alignment output is there
    model.shrink()
    release_free_memory()
    before = rss_bytes()
    shared = model.shared()
    assert shared is not model.alone and shared.session.get_session_options().intra_op_num_threads == 1
    shared.phoneme_ids_to_audio(ids, SynthesisConfig())
    model.shrink()  # what its arena kept of that sentence goes back too
    release_free_memory()
    assert before is not None and rss_bytes() - before < 0.3 * model.bytes, (rss_bytes() - before) / MIB


def test_the_prepared_model_is_built_once_and_never_half_written(model_cache, tmp_path):
    joe = bundled_voice()
    first = prepared(joe, aligned=True, root=model_cache)
    stamp = first.graph.stat().st_mtime_ns
    again = prepared(joe, aligned=True, root=model_cache)
    assert again == first and again.graph.stat().st_mtime_ns == stamp and again.aligned
    assert first.weights.stat().st_size > 0.9 * joe.stat().st_size and first.graph.stat().st_size < MIB
    broken = tmp_path / "cut" / "en_US-cut-medium.onnx"
    broken.parent.mkdir()
    broken.write_bytes(joe.read_bytes()[: 5 * MIB])  # an interrupted copy
    stale = tmp_path / "piper" / ".building-killed"  # what a build killed mid-way two hours ago left
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    with pytest.raises(RuntimeError, match="preparing Piper voice"):
        prepared(broken, aligned=True, root=tmp_path)
    assert not (tmp_path / "piper").exists() or not any((tmp_path / "piper").iterdir())  # nothing left behind


def test_repeated_model_paths_and_the_voice_cache_options_reach_the_engine():
    from flashtts.config.options import ServeOptions

    config = ServeOptions(model_path=["en_GB-alba-medium", "joe"], voice_cache_mb=200,
                          voice_idle_timeout=60).engine_config()
    assert config.model_path == "en_GB-alba-medium" and config.all_model_paths() == ("en_GB-alba-medium", "joe")
    assert (config.voice_cache_mb, config.voice_idle_timeout) == (200, 60)
    assert ServeOptions().engine_config().all_model_paths() == ()


@pytest.mark.parametrize(("refresh", "refreshed"), [("0.05", True), ("0", False)])
async def test_under_steady_load_the_shared_arena_is_refreshed_between_sentences(refresh, refreshed):
    """``arena_refresh``: with no idle moment long enough for ``idle_release``, the shared arena is still
    shrunk, at a moment no sentence runs, once per period (0: never)."""
    import asyncio

    from flashtts.engine import EngineConfig, SynthesisRequest
    from flashtts.metrics import Metrics
    from flashtts_engines.piper.engine import PiperEngine

    engine = PiperEngine(EngineConfig(extra={"arena_refresh": refresh, "idle_release": "0"}), Metrics())
    await engine.start()
    try:
        for i in range(3):
            await asyncio.sleep(0.1)
            chunks = [c async for c in engine.synthesize(SynthesisRequest(request_id=f"r{i}", text="Hello there."))]
            assert sum(len(c) for c in chunks) > 0
        stats = engine.stats()
    finally:
        await engine.stop()
    assert stats["arena_refresh"] == float(refresh)
    assert (stats["arena_refreshes"] >= 2) is refreshed and (stats["arena_refreshes"] == 0) is not refreshed
