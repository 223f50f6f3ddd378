"""The Piper engine: each sentence of concurrent requests runs as soon as it is queued.

Each request is phonemised, then its sentences are submitted one at a time (so its first
sentence is heard while the rest is still queued). Piper gains nothing from batching: measured
on this 2-core CPU, a padded VITS batch of 8 took 1.60 s against 1.53 s in turn, and a padded
row's output carries a tail whose true length the exported graph does not report. So the queue
hands out one sentence at a time, with no gathering wait, to ``parallel`` model threads that
share one ONNX session (its ``run`` is thread-safe): a sentence starts the moment a thread is
free and never waits for a slower one (a VITS run leaves cores idle in its sequential parts,
which other sentences fill).

Voices (``--model_path``, repeatable: files, folders, or catalogue names such as
``en_GB-alba-medium`` fetched into the Hugging Face cache, :mod:`.catalogue`) are loaded on
first use and unloaded when idle or over the memory budget (:mod:`.voice_cache`); the default
voice (the first) is loaded at start and stays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from flashtts.engine import (
    Capabilities,
    CapabilityError,
    Engine,
    EngineConfig,
    EngineInfo,
    Piece,
    SynthesisRequest,
    TimedChunk,
)
from flashtts.engine.hub import ModelNotFoundError
from flashtts.engine.microbatch import MicroBatcher
from flashtts.engine.worker import ModelWorker
from flashtts.memory import release_free_memory
from flashtts.metrics import Metrics

from .alignment import WordSpan, locate_words, phoneme_bounds, sentence_words
from .phonemes import escaped, ipa_symbols, leading_marks, sentences_of, spliced
from .session import VoiceModel, can_prepare
from .voice_cache import VoiceCache
from .voices import VoiceSource, catalogue_sources, voice_sources

log = logging.getLogger(__name__)

PEAK = 0.9
TRIM_AFTER = 0.5
"""Seconds of no requests after which the heap their sentences freed is handed back to the system."""
IDLE_RELEASE = 30.0
"""Seconds of no requests after which the sessions' shared arena is shrunk too (``--engine_opt
idle_release``). Not sooner: a burst right after a release grows it again (8 concurrent sentences
measured ~10% more CPU with a release between bursts a second apart), a single sentence ~5% of its own CPU."""
ARENA_REFRESH = 60.0
"""Under steady load (never ``idle_release`` seconds idle), the shared arena is shrunk at most this often
(``--engine_opt arena_refresh``; 0: never), at a moment no sentence is running: it then holds what the
last minute's sentences needed, not the largest burst since start, whose high-water mark otherwise
creeps up for hours (measured ~1 MiB/min in the 30-minute soak). A refresh costs the next sentences
their buffers' first page faults, ~10% of one burst's CPU, once a minute."""

LENGTH_SCALE_SPEED: tuple[tuple[float, float], ...] = (
    (0.67, 1.351), (0.8, 1.145), (0.9, 1.048), (1.0, 1.0), (1.1, 0.962), (1.25, 0.865), (1.5, 0.724), (2.0, 0.568))
"""Piper's ``length_scale`` and the speech speed it gives (speech duration at 1.0 over that at the
scale), measured on the joe voice over the five Harvard sentences, three runs each: far from
proportional (``length_scale`` 0.5 speaks only 1.66x faster, 0.25 only 2.07x), so the engine uses
scales within this table and time-stretches the rest."""


def speed_split(speed: float) -> tuple[float, float]:
    """``(length_scale, stretch)``: Piper's scale within its measured range and the time-stretch
    factor that makes the speech ``speed`` times as fast (log-linear between measured points)."""
    points = LENGTH_SCALE_SPEED
    scale = min(max(1.0 / speed, points[0][0]), points[-1][0])
    for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False):
        if s0 <= scale <= s1:
            t = (math.log(scale) - math.log(s0)) / (math.log(s1) - math.log(s0))
            native = math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
            return scale, speed / native
    return 1.0, speed


@dataclass(frozen=True)
class _Sentence:
    voice: str
    phoneme_ids: tuple[int, ...]
    length_scale: float
    timed: bool = False


@dataclass(frozen=True)
class _Prepared:
    """A request's text as Piper will speak it: phonemes and ids per sentence, and where its words are."""

    phonemes: list[list[str]]
    ids: list[tuple[int, ...]]
    words: list[WordSpan] | None = None


def _alignments_available() -> bool:
    """Word timings need the ``onnx`` package (the voice model is patched once with it, :mod:`.prepare`)."""
    return can_prepare()


def _flag(value: object) -> bool:
    return str(value).lower() not in ("0", "false", "no", "")


class PiperEngine(Engine):
    name = "piper"
    description = "Piper VITS voices on ONNX Runtime (CPU); ships the en_US 'joe' voice, more by catalogue name"
    many_models = True

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        super().__init__(config, metrics)
        self._sources: dict[str, VoiceSource] = {}
        self._cache: VoiceCache[VoiceModel] | None = None
        self._janitor: asyncio.Task | None = None
        self._trim: asyncio.TimerHandle | None = None
        self._idle_release = IDLE_RELEASE
        self._last_request = time.monotonic()
        self._released = True
        self._threads = 0
        self._running = 0
        self._running_lock = threading.Lock()
        self._arena_refresh = ARENA_REFRESH
        self._arena_shrunk = time.monotonic()
        """When the shared arena was last shrunk (or the engine started)."""
        self._arena_refreshes = 0
        self._info: EngineInfo | None = None
        self._worker: ModelWorker | None = None
        self._batcher: MicroBatcher[_Sentence, tuple[np.ndarray, np.ndarray | None]] | None = None
        self._g2p: ModelWorker | None = None
        self._parallel = 1
        self._active: set[str] = set()
        self._aborted: set[str] = set()
        """Ids of running streams asked to stop; only running ones are kept (no unbounded growth)."""
        self._word_cache: dict[tuple[str, str], list[list[str]]] = {}
        self._symbols: frozenset[str] = frozenset()
        """The default voice's phoneme symbols (espeak-ng's IPA; every voice's pronunciations are checked on them)."""

    @classmethod
    def static_capabilities(cls) -> Capabilities:
        return Capabilities(clone=False, instruct=False, voice_design=False, streaming=True, speed=True,
                            timestamps=_alignments_available(), phonemes=True)

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise RuntimeError("engine not started")
        return self._info

    @classmethod
    def prefetch(cls, name: str, revision: str | None = None) -> str | None:
        """A catalogue voice (``en_GB-alba-medium``) into the Hugging Face cache; its model file."""
        from .catalogue import Catalogue, looks_like_voice_name

        if not looks_like_voice_name(name):
            return None
        catalogue = Catalogue.load(name, revision)
        return str(catalogue.fetch(catalogue.get(name))[0])

    def _load_voice(self, voice: str) -> VoiceModel:
        """One voice's model (fetched first when it is a catalogue voice); runs off the event loop."""
        source = self._sources[voice]
        model, config = source.files()
        spin = _flag(self.config.extra.get("spin", "0"))
        return VoiceModel(model, _alignments_available(), self._threads, spin=spin, config_path=config)

    def _load(self) -> None:
        sources = voice_sources(self.config.all_model_paths(), self.config.revision)
        if _flag(self.config.extra.get("catalogue", "0")):
            sources += catalogue_sources(sources, self.config.revision)
        self._sources = {s.id: s for s in sources}
        default = sources[0].id
        evicts = self.config.voice_idle_timeout > 0 or self.config.voice_cache_mb > 0
        self._cache = VoiceCache(self._load_voice, lambda v: self._sources[v].size,
                                 budget_bytes=int(self.config.voice_cache_mb * 2**20),
                                 idle_seconds=self.config.voice_idle_timeout,
                                 pinned=[default] if evicts else list(self._sources))
        first = self._cache.lease(default)  # the default voice is ready before the server is
        self._cache.release(default)
        self._rate = first.config.sample_rate
        self._symbols = frozenset(first.config.phoneme_id_map)
        languages = {"auto"}
        for source in sources:
            languages |= source.language_names()
        self._info = EngineInfo(
            name=self.name,
            model=", ".join(s.label for s in sources[:8]) + (f" and {len(sources) - 8} more" * (len(sources) > 8)),
            sample_rate=self._rate,
            voices=tuple(s.info() for s in sources),
            default_voice=default,
            languages=tuple(sorted(languages, key=lambda x: (x != "auto", x))),
            capabilities=replace(self.static_capabilities(), timestamps=_alignments_available() and first.timestamps),
            extra={"phoneme_alphabet": "espeak-ipa"},
        )

    async def start(self) -> None:
        # sentences at once: 2 per core. Against piper.http_server at 8 clients on 2 cores, 4 and 8 at once
        # served alike (1.07 vs 1.04-1.12) and 2 lost CPU share to other work (docs/benchmarks/
        # piper_vs_http_server.md); 4 holds half the activation memory of 8 at its peak, and a steady load
        # fills them, so the shared arena reaches its level at once instead of creeping up with rarer bursts
        self._parallel = max(1, int(self.config.extra.get("parallel", 2 * (os.cpu_count() or 1))))
        # ONNX threads for a sentence alone: 0 is ONNX Runtime's default, one per physical core
        self._threads = max(0, int(self.config.extra.get("threads", 0)))
        self._idle_release = max(0.0, float(self.config.extra.get("idle_release", IDLE_RELEASE)))
        self._arena_refresh = max(0.0, float(self.config.extra.get("arena_refresh", ARENA_REFRESH)))
        self._worker = ModelWorker("flashtts-piper", threads=self._parallel)
        self._g2p = ModelWorker("flashtts-piper-g2p")  # espeak is not thread-safe: one thread of its own
        await self._worker.run(self._load)
        # one sentence per batch, no gathering wait: --batch_size and --wait_timeout do not apply
        self._batcher = MicroBatcher(self._run_batch, self._worker, self.metrics,
                                     max_batch_size=1, wait_timeout=0.0, concurrency=self._parallel)
        self._batcher.start()
        self._janitor = asyncio.create_task(self._housekeeping(), name="flashtts-piper-housekeeping")

    async def _housekeeping(self) -> None:
        """Unload voices unused for ``--voice_idle_timeout``; once no request has run for ``idle_release``
        seconds, shrink the sessions' shared arena and hand the freed memory back."""
        assert self._cache is not None
        spans = [t for t in (self.config.voice_idle_timeout, self._idle_release) if t > 0]
        every = min(max(min(spans, default=30.0) / 10, 0.25), 5.0)
        while True:
            await asyncio.sleep(every)
            try:
                evicted = await asyncio.to_thread(self._cache.evict_idle)
                idle = not self._active and time.monotonic() - self._last_request >= self._idle_release > 0
                if idle and not self._released:
                    self._released = True
                    await asyncio.to_thread(self._release_memory)
                elif evicted:
                    await asyncio.to_thread(release_free_memory)
            except Exception:  # keep going: memory left held costs memory, not correctness
                log.exception("piper housekeeping failed")

    def _schedule_trim(self) -> None:
        """Once no request has run for ``TRIM_AFTER`` s, hand back the heap their sentences freed (the
        arena's memory, which the next sentences reuse, stays until ``idle_release``)."""
        if self._trim is not None:
            self._trim.cancel()
        loop = asyncio.get_running_loop()

        def trim() -> None:
            self._trim = None
            if not self._active:
                loop.run_in_executor(None, release_free_memory)

        self._trim = loop.call_later(TRIM_AFTER, trim)

    def _release_memory(self, model: VoiceModel | None = None) -> None:
        """Shrink the sessions' shared arena through ``model`` (or any loaded voice: the arena is shared), then
        hand the freed heap back (off the event loop)."""
        self._arena_shrunk = time.monotonic()
        if model is None:
            models = self._cache.values() if self._cache is not None else []
            model = models[0] if models else None
        if model is not None:
            try:
                model.shrink()
            except Exception:  # memory stays held; nothing else is wrong
                log.exception("shrinking the voices' memory failed")
        release_free_memory()

    async def stop(self) -> None:
        for pending in (self._janitor, self._trim):
            if pending is not None:
                pending.cancel()
        if self._batcher is not None:
            await self._batcher.stop()
        if self._worker is not None:
            self._worker.shutdown()
        if self._g2p is not None:
            self._g2p.shutdown()

    def ready(self) -> bool:
        return self._batcher is not None and self._batcher.healthy

    async def unload(self) -> None:
        """Stop the model threads, shrink the shared arena and drop every voice's ONNX sessions (``info``
        stays)."""
        await self.stop()
        await asyncio.to_thread(self._release_memory)  # the arena outlives the sessions: empty it first
        self._batcher = self._worker = self._g2p = self._janitor = self._trim = None
        self._cache = None
        self._word_cache.clear()

    async def reload(self) -> None:
        await self.start()

    # ---- model thread ---------------------------------------------------------------------
    def _phonemize(self, voice: str, text: str, timed: bool = False, pieces: tuple[Piece, ...] = ()) -> _Prepared:
        assert self._cache is not None
        v = self._cache.get(voice).alone
        phonemes = self._sentences(v, text, pieces)
        words = locate_words(text, phonemes, lambda token: self._word_phonemes(v, voice, token)) if timed else None
        return _Prepared(phonemes, [tuple(v.phonemes_to_ids(p)) for p in phonemes], words)

    @staticmethod
    def _sentences(v, text: str, pieces: tuple[Piece, ...] = ()) -> list[list[str]]:
        """Phonemes by sentence: the text's from espeak-ng (no raw ``[[ ]]`` phonemes taken from it), the
        pronunciations given in IPA spliced in where their words are."""
        if not pieces:
            return [p for p in v.phonemize(escaped(text)) if p]
        known = v.config.phoneme_id_map
        sentences: list[list[str]] = []
        for piece in pieces:
            if piece.ipa is not None:
                spliced(sentences, sentences_of(ipa_symbols(piece.ipa, known)))
                continue
            spliced(sentences, [p for p in v.phonemize(escaped(piece.text)) if p], leading_marks(piece.text, known))
        return sentences

    async def phonemize(self, text: str, voice: str | None = None, language: str | None = None,
                        pieces: tuple[Piece, ...] = ()) -> str:
        assert self._g2p is not None and self._cache is not None
        voice = voice or self.info.default_voice
        assert voice is not None
        await self._lease(voice)
        try:
            v = self._cache.get(voice).alone
            sentences = await self._g2p.run(self._sentences, v, text, pieces)
        finally:
            self._cache.release(voice)
        return " ".join("".join(s) for s in sentences)

    def _word_phonemes(self, v, voice: str, token: str) -> list[list[str]]:
        """A word's phonemes when spoken alone (cached: a voice's common words recur)."""
        key = (voice, token)
        found = self._word_cache.get(key)
        if found is None:
            if len(self._word_cache) >= 8192:
                self._word_cache.clear()
            found = self._word_cache[key] = v.phonemize(token)
        return found

    def _synth_one(self, item: _Sentence) -> tuple[np.ndarray, np.ndarray | None]:
        """One sentence: on the many-thread session when nothing else runs, else on a one-thread one
        (measured here: a sentence alone 15.8 audio-s/s on two threads against 9.5 on one; eight at
        once 19.5 on one thread each against 17.6 on two)."""
        from piper import SynthesisConfig

        assert self._cache is not None
        model = self._cache.get(item.voice)  # leased by its request
        with self._running_lock:
            alone = self._running == 0
            self._running += 1
        try:
            voice = model.alone if alone else model.shared()
            result = voice.phoneme_ids_to_audio(list(item.phoneme_ids), SynthesisConfig(
                length_scale=item.length_scale), include_alignments=item.timed)
        finally:
            with self._running_lock:
                self._running -= 1
                refresh = (self._running == 0 and self._arena_refresh > 0
                           and time.monotonic() - self._arena_shrunk >= self._arena_refresh)
                if refresh:  # claimed here, so that one sentence thread alone does it
                    self._arena_shrunk = time.monotonic()
                    self._arena_refreshes += 1
            if refresh:  # nothing runs now: every buffer the arena holds is free
                self._release_memory(model)
        audio, id_samples = result if isinstance(result, tuple) else (result, None)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = audio * (PEAK / peak) if peak > 1e-8 else np.zeros_like(audio)
        if voice.config.sample_rate != self._rate:
            from flashtts.audio import Resampler

            rs = Resampler(voice.config.sample_rate, self._rate)
            audio = np.concatenate([rs(audio), rs(None)])
        return audio, id_samples

    def _run_batch(self, items: Sequence[_Sentence]) -> Iterator[tuple[np.ndarray, np.ndarray | None] | BaseException]:
        """The batch's sentences in turn (the batcher hands out one at a time), each yielded when done."""
        for item in items:
            yield self._guarded_synth(item)

    def _guarded_synth(self, item: _Sentence) -> tuple[np.ndarray, np.ndarray | None] | BaseException:
        try:
            return self._synth_one(item)
        except Exception as exc:  # one bad sentence fails only its request
            log.exception("piper failed on a sentence")
            return exc

    # ---- event loop -----------------------------------------------------------------------
    async def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray | TimedChunk, None]:
        assert self._worker is not None and self._batcher is not None and self._g2p is not None
        voice = request.voice or self.info.default_voice
        assert voice is not None and self._cache is not None
        length_scale, stretch = speed_split(request.speed)
        effects = None
        if abs(stretch - 1.0) > 1e-3:
            from flashtts.audio import Effects

            effects = Effects(self._rate, speed=stretch)
        timed = request.timestamps
        self._active.add(request.request_id)
        self._released = False
        offset = 0.0
        leased = False
        try:
            model = await self._lease(voice)
            leased = True
            prepared = await self._g2p.run(self._phonemize, voice, request.text, timed, request.pieces)
            for index, ids in enumerate(prepared.ids):
                if request.request_id in self._aborted:
                    return
                audio, id_samples = await self._batcher.submit(_Sentence(voice, ids, length_scale, timed))
                heard = audio if effects is None else await asyncio.to_thread(effects, audio)
                if not timed:
                    yield heard
                    continue
                words = self._words(model, prepared, index, id_samples, offset)  # on the unstretched timeline
                yield TimedChunk(heard, tuple(w.shifted(0.0, 1.0 / stretch) for w in words))
                offset += len(audio) / self._rate
            if effects is not None:
                yield await asyncio.to_thread(effects, None)
        finally:
            if leased:
                self._cache.release(voice)
            self._active.discard(request.request_id)
            self._aborted.discard(request.request_id)
            self._last_request = time.monotonic()
            if not self._active:
                self._schedule_trim()

    async def _lease(self, voice: str) -> VoiceModel:
        """The voice, loaded (and fetched) off the event loop if need be; held until released. A
        request cancelled while its voice loads gives the lease back once the load is done."""
        assert self._cache is not None
        cache = self._cache
        loading = asyncio.ensure_future(asyncio.to_thread(cache.lease, voice))
        try:
            return await asyncio.shield(loading)
        except asyncio.CancelledError:
            loading.add_done_callback(lambda f: None if f.cancelled() or f.exception() else cache.release(voice))
            raise
        except ModelNotFoundError as exc:  # the details (cache path) for the log, the remedy for the client
            log.error("voice %s cannot be loaded: %s", voice, exc)
            raise ModelNotFoundError(f"voice '{voice}' is not downloaded and cannot be fetched now; the server's "
                                     f"operator can fetch it with `flashtts download {voice}`") from None

    def _words(self, model: VoiceModel, prepared: _Prepared, index: int, id_samples: np.ndarray | None,
               offset: float):
        """Timings of the words of sentence ``index`` from the samples each of its phoneme ids lasted."""
        if id_samples is None or prepared.words is None:
            return []
        config = model.config
        bounds = phoneme_bounds(prepared.phonemes[index], config.phoneme_id_map, id_samples.tolist())
        return sentence_words(prepared.words, index, prepared.phonemes[index], bounds, offset, config.sample_rate)

    async def abort(self, request_id: str) -> None:
        if request_id in self._active:  # an abort after the stream ended has nothing to stop
            self._aborted.add(request_id)

    def validate(self, request: SynthesisRequest) -> None:
        super().validate(request)
        for piece in request.pieces:
            if piece.ipa is not None:
                try:
                    ipa_symbols(piece.ipa, self._symbols)
                except ValueError as exc:
                    raise CapabilityError(f"{exc} (engine '{self.name}' speaks espeak-ng's IPA)") from None
        source = self._sources.get(request.voice or "")
        if source is not None and self._cache is not None and source.id not in self._cache:
            source.check_available()  # offline and not cached: say what to prefetch before a stream opens

    def stats(self) -> dict:
        cache = self._cache
        return {"voices": list(self._sources)[:64], "voices_served": len(self._sources),
                "loaded_voices": cache.loaded() if cache is not None else [],
                "voice_cache_mb": self.config.voice_cache_mb, "voice_idle_timeout": self.config.voice_idle_timeout,
                "voice_evictions": cache.evictions if cache is not None else 0, "idle_release": self._idle_release,
                "arena_refresh": self._arena_refresh, "arena_refreshes": self._arena_refreshes,
                "batch_size": 1, "active_streams": len(self._active),
                "parallel_rows": self._parallel, "onnx_threads_alone": self._threads,
                "wait_timeout": 0.0,
                "worker_restarts": self._batcher.restarts if self._batcher is not None else 0}
