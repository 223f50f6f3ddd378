"""The Kokoro engine: Kokoro-82M v1.0 on ONNX Runtime, every voice of its voice files, mixes and word timings.

Each request is phonemised (espeak-ng, or misaki for Japanese and Mandarin, :mod:`.cjk`; on a thread
of its own: neither is thread-safe), then its sentences are submitted one at a time, so the first
sentence is heard while the rest are queued. As for Piper, the queue hands out one sentence at a
time with no gathering wait to ``parallel`` model threads sharing the sessions (``run`` is
thread-safe): a sentence that starts while no other runs gets the session with ``threads`` intra-op
threads, the others a one-thread session. Kokoro's exported graph takes one sentence per call
(``tokens [1, n]``), so there is no batching to gain.

Voice mixing: a mix's style table is the weighted mean of its voices' tables (weights normalised to
sum to one), computed once per mix and kept. Word timings come from the model's own predicted
durations (:mod:`.graph`), mapped onto the words as Piper's phoneme alignments are.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flashtts.engine import (
    Capabilities,
    CapabilityError,
    Engine,
    EngineConfig,
    EngineInfo,
    SynthesisRequest,
    TimedChunk,
    VoiceInfo,
    WordTiming,
)
from flashtts.engine.hub import is_repo_id, resolve_model_path
from flashtts.engine.microbatch import MicroBatcher
from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics
from flashtts.text.sentences import split_sentences
from flashtts_engines.piper.alignment import WordSpan, locate_words, phoneme_bounds, sentence_words

from .cjk import CJK, CJK_LANGUAGES, Reader, cjk_language, unavailable
from .files import ROWS, KokoroFiles, hub_patterns, load_files, precision_of
from .graph import DURATIONS, SAMPLES_PER_FRAME, input_names, model_with_durations, session
from .phonemes import ESPEAK_VOICE, LANGUAGES, Piece, espeak_voice, opening_pieces, pieces, symbols, voice_language

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
LEAD_IN = int(0.05 * SAMPLE_RATE)
"""Samples of the start pad kept before a sentence's first phoneme (Kokoro pads each sentence with
about a third of a second of near-silence, which would sit between streamed sentences)."""
PREFERRED_DEFAULT = ("af_heart", "af_bella", "bf_emma")
DEFAULT_REPO = "onnx-community/Kokoro-82M-v1.0-ONNX"
"""The Hub repository served when ``--model_path`` is not given (its int8 model and every voice)."""
MIX_CACHE = 64
FIRST_TOKENS = 24
"""Most phoneme tokens in the first model call of a streamed answer (about three words): Kokoro makes a
call's audio all at once, in time that grows with its length, so a short first call is heard soonest."""


@dataclass(frozen=True)
class _Sentence:
    ids: tuple[int, ...]
    style: np.ndarray
    speed: float


@dataclass(frozen=True)
class _Result:
    audio: np.ndarray
    durations: np.ndarray | None
    """Frames each token lasted (start pad, phonemes, end pad), when the graph reports them."""


@dataclass(frozen=True)
class _Prepared:
    """A request's text as Kokoro will speak it: model calls (pieces of sentences) and where its words are."""

    pieces: list[Piece]
    words: list[WordSpan] | None = None


class KokoroEngine(Engine):
    name = "kokoro"
    description = "Kokoro-82M v1.0 (ONNX): every voice of its voice files, weighted voice mixes, word timings"

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        super().__init__(config, metrics)
        self._files: KokoroFiles | None = None
        self._alone: Any = None
        self._shared: Any = None
        self._inputs: tuple[str, str, str, bool] = ("tokens", "style", "speed", True)
        self._audio_output = "audio"
        self._timed = False
        self._threads = 0
        self._first_tokens = FIRST_TOKENS
        self._parallel = 1
        self._running = 0
        self._running_lock = threading.Lock()
        self._info: EngineInfo | None = None
        self._worker: ModelWorker | None = None
        self._g2p: ModelWorker | None = None
        self._batcher: MicroBatcher[_Sentence, _Result] | None = None
        self._mixes: OrderedDict[tuple[tuple[str, float], ...], np.ndarray] = OrderedDict()
        self._mix_lock = threading.Lock()
        self._word_cache: dict[tuple[str, str], list[list[str]]] = {}
        self._espeak: Any = None
        self._readers: dict[str, Reader] = {}
        """misaki's Japanese and Mandarin readers (:mod:`.cjk`), loaded on first use."""
        self._id_map: dict[str, tuple[int, ...]] = {}
        """Phoneme -> token ids, as Piper's alignment reads them (each sentence opens with one pad token)."""
        self._active: set[str] = set()
        self._aborted: set[str] = set()

    @classmethod
    def static_capabilities(cls) -> Capabilities:
        return Capabilities(streaming=True, speed=True, voice_mixing=True, timestamps=True)

    @classmethod
    def hub_patterns(cls, config: EngineConfig) -> list[str]:
        """The files of a Hub repository this engine reads (one precision of the model, voices, vocabulary)."""
        return hub_patterns(cls._precision(config))

    @staticmethod
    def _precision(config: EngineConfig) -> str | None:
        asked = config.extra.get("precision")
        if asked is None and config.dtype in ("float32", "float16"):
            asked = config.dtype
        return precision_of(asked)

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise RuntimeError("engine not started")
        return self._info

    # ---- loading --------------------------------------------------------------------------
    def _folder(self) -> Path:
        value = self.config.model_path or DEFAULT_REPO
        if is_repo_id(value):
            return Path(resolve_model_path(value, self.config.revision, self.hub_patterns(self.config)) or value)
        return Path(value).expanduser()

    def _load(self) -> None:
        spin = str(self.config.extra.get("spin", "0")).lower() not in ("0", "false", "no")
        files = load_files(self._folder(), self._precision(self.config))
        model, self._timed = model_with_durations(files.model)
        self._alone = session(model, self._threads, spin)
        self._shared = self._alone if self._threads == 1 else session(model, 1)
        self._inputs = input_names(self._alone)
        self._audio_output = self._alone.get_outputs()[0].name
        self._files = files
        self._id_map = {ph: (i,) for ph, i in files.vocab.items()}
        self._id_map["^"] = (0,)  # the start pad
        voices = []
        for name in sorted(files.voices):
            language, language_name = voice_language(name)
            gender = {"f": "female", "m": "male"}.get(name[1:2].lower(), "") if language else ""
            desc = f"Kokoro voice {name}" + (f", {language_name} {gender}".rstrip() if language else "")
            voices.append(VoiceInfo(id=name, name=name, description=desc, language=language))
        default = next((v for v in PREFERRED_DEFAULT if v in files.voices), voices[0].id)
        self._info = EngineInfo(
            name=self.name,
            model=f"Kokoro-82M v1.0 ({files.model.name}, {files.precision})",
            sample_rate=SAMPLE_RATE,
            voices=tuple(voices),
            default_voice=default,
            languages=LANGUAGES + CJK_LANGUAGES,
            capabilities=Capabilities(streaming=True, speed=self._inputs[3], voice_mixing=True,
                                      timestamps=self._timed),
            extra={"precision": files.precision},
        )

    async def start(self) -> None:
        self._parallel = max(1, int(self.config.extra.get("parallel", 2 * (os.cpu_count() or 1))))
        self._threads = max(0, int(self.config.extra.get("threads", 0)))
        self._first_tokens = max(0, int(self.config.extra.get("first_tokens", FIRST_TOKENS)))
        self._worker = ModelWorker("flashtts-kokoro", threads=self._parallel)
        self._g2p = ModelWorker("flashtts-kokoro-g2p")  # espeak is not thread-safe: one thread of its own
        await self._worker.run(self._load)
        self._batcher = MicroBatcher(self._run_batch, self._worker, self.metrics,
                                     max_batch_size=1, wait_timeout=0.0, concurrency=self._parallel)
        self._batcher.start()

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()
        for worker in (self._worker, self._g2p):
            if worker is not None:
                worker.shutdown()

    def ready(self) -> bool:
        return self._batcher is not None and self._batcher.healthy

    async def unload(self) -> None:
        """Stop the model threads and drop the ONNX sessions, the voice tables and the cached mixes
        (``info`` stays: voices and capabilities do not change across a reload)."""
        await self.stop()
        self._batcher = self._worker = self._g2p = None
        self._alone = self._shared = self._files = None
        with self._mix_lock:
            self._mixes.clear()
        self._word_cache.clear()
        self._readers.clear()

    async def reload(self) -> None:
        await self.start()

    def validate(self, request: SynthesisRequest) -> None:
        super().validate(request)
        voice = request.voice or self.info.default_voice or ""
        cjk = cjk_language(voice, request.language, request.text)
        why = unavailable(cjk) if cjk is not None else None
        if why is None and (cjk is not None or espeak_voice(voice, request.language) is not None):
            return
        readable = ", ".join(lang for lang in LANGUAGES if lang != "auto")
        if cjk is not None:
            raise CapabilityError(f"{CJK[cjk]} (voice '{voice}', language '{request.language or 'auto'}') cannot be "
                                  f"phonemised without {why}; or give a language espeak-ng reads ({readable})")
        raise CapabilityError(f"voice '{voice}' cannot be read in language '{request.language}', which this engine "
                              f"cannot phonemise; give a language it reads ({readable})")

    @staticmethod
    def _reading(voice: str, language: str | None, text: str) -> str | None:
        """How ``text`` for ``voice`` in ``language`` is read: ``ja``/``zh`` (misaki, :mod:`.cjk`), else the
        espeak-ng voice; None when neither reads it."""
        return cjk_language(voice, language, text) or espeak_voice(voice, language)

    # ---- styles ---------------------------------------------------------------------------
    def style_table(self, voice: str, mix: tuple[tuple[str, float], ...] = ()) -> np.ndarray:
        """A voice's style table, or a mix's: the weighted mean of its voices' tables (weights normalised)."""
        assert self._files is not None
        if not mix:
            return self._files.voices[voice]
        with self._mix_lock:
            table = self._mixes.get(mix)
            if table is not None:
                self._mixes.move_to_end(mix)
                return table
        voices = self._files.voices
        rows = min(len(voices[v]) for v, _ in mix)
        total = sum(w for _, w in mix)
        table = np.zeros((rows, voices[mix[0][0]].shape[1]), dtype=np.float64)
        for v, w in mix:
            table += (w / total) * voices[v][:rows]
        table = table.astype(np.float32)
        with self._mix_lock:
            self._mixes[mix] = table
            while len(self._mixes) > MIX_CACHE:
                self._mixes.popitem(last=False)
        return table

    # ---- phonemes (g2p thread) ------------------------------------------------------------
    def _phonemes(self, reading: str, text: str) -> list[list[str]]:
        """``text``'s sentences as Kokoro's symbols, read as ``reading`` says (:meth:`_reading`)."""
        assert self._files is not None
        vocab = self._files.vocab
        if reading in CJK:
            reader = self._reader(reading)
            return [s for s in (symbols(reader.phonemes(t), vocab) for t in split_sentences(text)) if s]
        from piper.phonemize_espeak import EspeakPhonemizer

        if self._espeak is None:
            self._espeak = EspeakPhonemizer()
        return [s for s in (symbols(p, vocab) for p in self._espeak.phonemize(reading, text)) if s]

    def _reader(self, language: str) -> Reader:
        if language not in self._readers:
            self._readers[language] = Reader(language, self._english)
        return self._readers[language]

    def _english(self, text: str) -> str:
        """Latin words inside Japanese or Mandarin text, read by espeak-ng as American English."""
        return " ".join("".join(sentence) for sentence in self._phonemes(ESPEAK_VOICE["en-us"], text))

    def _prepare(self, reading: str, text: str, timed: bool, opening: bool = False) -> _Prepared:
        assert self._files is not None
        vocab = self._files.vocab
        out = [piece for sentence in self._phonemes(reading, text) for piece in pieces(sentence, vocab)]
        if opening and out:
            out[:1] = opening_pieces(out[0], self._first_tokens)
        words = None
        if timed:
            listed = [(w, w) for w in self._reader(reading).words(text)] if reading in CJK else None
            words = locate_words(text, [list(p.phonemes) for p in out],
                                 lambda token: self._word_phonemes(reading, token), listed)
        return _Prepared(out, words)

    def _word_phonemes(self, reading: str, token: str) -> list[list[str]]:
        """A word's phonemes when spoken alone (cached: common words recur)."""
        key = (reading, token)
        found = self._word_cache.get(key)
        if found is None:
            if len(self._word_cache) >= 8192:
                self._word_cache.clear()
            found = self._word_cache[key] = self._phonemes(reading, token)
        return found

    # ---- model threads --------------------------------------------------------------------
    def _synth_one(self, item: _Sentence) -> _Result:
        """One model call: on the many-thread session when nothing else runs, else on a one-thread one."""
        with self._running_lock:
            alone = self._running == 0
            self._running += 1
        tokens, style, speed, speed_float = self._inputs
        feeds = {tokens: np.array([[0, *item.ids, 0]], dtype=np.int64),
                 style: item.style.reshape(1, -1).astype(np.float32, copy=False),
                 speed: np.array([item.speed], dtype=np.float32 if speed_float else np.int32)}
        wanted = [self._audio_output, DURATIONS] if self._timed else [self._audio_output]
        try:
            outputs = (self._alone if alone else self._shared).run(wanted, feeds)
        finally:
            with self._running_lock:
                self._running -= 1
        audio = np.clip(np.asarray(outputs[0], dtype=np.float32).reshape(-1), -1.0, 1.0)
        durations = np.asarray(outputs[1]).reshape(-1) if self._timed else None
        return _Result(audio, durations)

    def _run_batch(self, items: Sequence[_Sentence]) -> Iterator[_Result | BaseException]:
        for item in items:
            try:
                yield self._synth_one(item)
            except Exception as exc:  # one bad sentence fails only its request
                log.exception("kokoro failed on a sentence")
                yield exc

    # ---- event loop -----------------------------------------------------------------------
    async def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray | TimedChunk, None]:
        assert self._batcher is not None and self._g2p is not None
        voice = request.voice or self.info.default_voice
        assert voice is not None
        reading = self._reading(voice, request.language, request.text)
        if reading is None:
            raise CapabilityError(f"voice '{voice}' cannot read language '{request.language}'")
        table = self.style_table(voice, request.mix)
        timed = request.timestamps and self._timed
        speed = request.speed if self._inputs[3] else 1.0
        self._active.add(request.request_id)
        offset = 0.0
        try:
            opening = request.stream and request.opening and self._first_tokens > 0
            prepared = await self._g2p.run(self._prepare, reading, request.text, timed, opening)
            for index, piece in enumerate(prepared.pieces):
                if request.request_id in self._aborted:
                    return
                style = table[min(len(piece.ids), ROWS, len(table)) - 1]
                result = await self._batcher.submit(_Sentence(piece.ids, style, speed))
                audio, words = self._trimmed(result, prepared, index, offset)
                offset += len(audio) / SAMPLE_RATE
                yield TimedChunk(audio, tuple(words)) if timed else audio
        finally:
            self._active.discard(request.request_id)
            self._aborted.discard(request.request_id)

    def _trimmed(self, result: _Result, prepared: _Prepared, index: int,
                 offset: float) -> tuple[np.ndarray, list[WordTiming]]:
        """The sentence's audio without most of its start pad, and its words on the request's timeline."""
        if result.durations is None or len(result.durations) < 2:
            return result.audio, []
        samples = result.durations.astype(np.int64) * SAMPLES_PER_FRAME
        cut = int(max(0, min(int(samples[0]) - LEAD_IN, len(result.audio))))
        audio = result.audio[cut:]
        if prepared.words is None:
            return audio, []
        piece = prepared.pieces[index]
        bounds = phoneme_bounds(piece.phonemes, self._id_map, samples.tolist())
        return audio, sentence_words(prepared.words, index, piece.phonemes, bounds, offset - cut / SAMPLE_RATE,
                                     SAMPLE_RATE)

    async def abort(self, request_id: str) -> None:
        if request_id in self._active:
            self._aborted.add(request_id)

    def stats(self) -> dict:
        return {"voices": len(self._files.voices) if self._files else 0, "active_streams": len(self._active),
                "parallel_rows": self._parallel, "onnx_threads_alone": self._threads, "mixes_cached": len(self._mixes),
                "worker_restarts": self._batcher.restarts if self._batcher is not None else 0}
