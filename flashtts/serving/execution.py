"""Execution: admission, the engine's audio with effects and deadlines, encoding, the request's end."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace

import numpy as np

from flashtts import audio
from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine, SynthesisRequest, TimedChunk, WordTiming
from flashtts.errors import ClientGoneError, TimeoutError_
from flashtts.metrics import Metrics
from flashtts.serving import silence
from flashtts.serving.admission import Admission, Ticket
from flashtts.serving.plans import Disconnected, Plan
from flashtts.ssml import relabel

log = logging.getLogger("flashtts.requests")


class Execution:
    """Running a plan: admitted, streamed from the engine, encoded, finished and logged once."""

    def __init__(self, config: ServerConfig, engine: Engine, metrics: Metrics, admission: Admission) -> None:
        self.config = config
        self.engine = engine
        self.metrics = metrics
        self.admission = admission

    def admit(self, client: str | None, *, count: bool = True) -> Ticket:
        """A slot for one request (429 when the server, or this ``client``, is at its limit; None: a
        caller without one, only the server's limit). ``count=False``: a live session taking a slot again
        is not a new request."""
        self.admission.acquire(client)
        if count:
            self.metrics.inc("requests_total")
        return Ticket(self.admission, client)

    async def samples(self, plan: Plan, disconnected: Disconnected | None = None) -> AsyncGenerator[np.ndarray, None]:
        """Engine audio of the whole plan at the engine's rate, speed/pitch/volume applied and pauses
        inserted, with deadline, disconnect checks and abort on early close."""
        info = self.engine.info
        rate = info.sample_rate
        native_speed = info.capabilities.speed
        effects: audio.Effects | None = None
        effects_key = (1.0, 1.0)
        deadline = plan.started + self.config.request_timeout
        finished = False
        current: SynthesisRequest | None = None
        heard = 0.0  # seconds of output before the current chunk, for word timings
        try:
            for index, seg in enumerate(plan.segments):
                current = seg
                post_speed = 1.0 if native_speed else seg.speed
                key = (post_speed, plan.pitch * seg.pitch)
                if key != effects_key or seg.pause_before:
                    if effects is not None:  # the old settings' tail, before a pause or a change of them
                        tail = self._heard(plan, await asyncio.to_thread(effects, None))
                        if len(tail):
                            yield tail
                    effects_key = key
                    effects = audio.Effects(rate, speed=key[0], pitch=key[1]) if key != (1.0, 1.0) else None
                if seg.pause_before:
                    gap = self._heard(plan, silence.silence(max(0.0, seg.pause_before - 2 * silence.MARGIN), rate))
                    heard += len(gap) / rate
                    yield gap
                following = plan.segments[index + 1].pause_before if index + 1 < len(plan.segments) \
                    else plan.pause_after
                seg_start = heard
                trim_head = seg.pause_before > 0
                held: np.ndarray | None = None  # the last chunk, whose quiet tail goes when a pause follows
                slots = plan.word_slots.get(seg.request_id)
                said: list[WordTiming] = []  # a respelling's words, relabelled once the segment is over
                stream = self.engine.synthesize(seg if native_speed else replace(seg, speed=1.0))
                try:
                    while True:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise asyncio.TimeoutError
                        try:
                            chunk = await asyncio.wait_for(stream.__anext__(), remaining)
                        except StopAsyncIteration:
                            break
                        if disconnected is not None and await disconnected():
                            plan.status = "disconnected"
                            return
                        words: tuple[WordTiming, ...] = ()
                        if isinstance(chunk, TimedChunk):
                            words = chunk.words
                            chunk = chunk.audio
                        if trim_head and len(chunk):
                            cut = silence.quiet_head(chunk, rate)
                            chunk, trim_head = chunk[cut:], False
                            seg_start -= cut / rate / post_speed
                        (said if slots else plan.words).extend(w.shifted(seg_start, 1.0 / post_speed) for w in words)
                        heard += len(chunk) / rate / post_speed
                        if following:
                            chunk, held = (held if held is not None else chunk[:0]), chunk
                        out = await self._processed(plan, seg, chunk, effects)
                        if len(out):
                            yield out
                    if slots:
                        plan.words.extend(relabel(slots, said))
                    if held is not None:
                        cut = silence.quiet_tail(held, rate)
                        heard -= cut / rate / post_speed
                        out = await self._processed(plan, seg, held[:len(held) - cut], effects)
                        if len(out):
                            yield out
                finally:
                    await stream.aclose()
            if effects is not None:
                tail = self._heard(plan, await asyncio.to_thread(effects, None))
                if len(tail):
                    yield tail
            if plan.pause_after:
                yield self._heard(plan, silence.silence(max(0.0, plan.pause_after - silence.MARGIN), rate))
            finished = True
        except asyncio.TimeoutError:
            plan.status = "timeout"
            self.metrics.inc("requests_timed_out_total")
            raise TimeoutError_(f"request took longer than {self.config.request_timeout:g} s",
                                code="request_timeout") from None
        finally:
            if not finished:
                if current is not None:
                    await self.engine.abort(current.request_id)
                if plan.status == "ok":
                    plan.status = "aborted"
                if plan.status in ("aborted", "disconnected", "timeout"):
                    self.metrics.inc("requests_aborted_total")

    async def _processed(self, plan: Plan, seg: SynthesisRequest, chunk: np.ndarray,
                         effects: audio.Effects | None) -> np.ndarray:
        """A segment's chunk at its volume, through the effects (ffmpeg filters, off the loop), counted."""
        if seg.gain != 1.0 and len(chunk):
            chunk = np.clip(chunk * seg.gain, -1.0, 1.0).astype(np.float32)
        if effects is not None:
            chunk = await asyncio.to_thread(effects, chunk)
        if plan.ttfa is None and len(chunk):
            plan.ttfa = time.monotonic() - plan.started
            self.metrics.observe_ttfa(plan.ttfa)
        return self._heard(plan, chunk)

    def _heard(self, plan: Plan, chunk: np.ndarray) -> np.ndarray:
        plan.audio_seconds += len(chunk) / self.engine.info.sample_rate
        return chunk

    async def encoded(self, plan: Plan, disconnected: Disconnected | None = None) -> AsyncGenerator[bytes, None]:
        """A live stream of the plan's audio in its response format.

        The container header travels with the first audio, so the first part exists only once the
        engine produced sound: a failure before it can still be answered with an error status.
        """
        framer = LiveFramer(audio.Encoder(plan.response_format, self.engine.info.sample_rate, live=True,
                                          out_rate=plan.out_rate))
        async with aclosing(self.samples(plan, disconnected)) as chunks:
            async for chunk in chunks:
                data = await framer.write(chunk)
                if data:
                    yield data
        tail = await framer.finish()
        if tail:
            yield tail

    async def complete(self, plan: Plan, disconnected: Disconnected | None = None) -> tuple[bytes, float]:
        """The whole file and its duration in seconds; stops early (499) when the client has gone."""
        enc = audio.Encoder(plan.response_format, self.engine.info.sample_rate, live=False, out_rate=plan.out_rate)
        async with aclosing(self.samples(plan, disconnected)) as chunks:
            async for chunk in chunks:
                await encode_step(enc, enc.write, chunk)
        if plan.status == "disconnected":
            raise ClientGoneError("client closed the connection before the audio was complete",
                           code="client_disconnected")
        data = await encode_step(enc, enc.finish)
        return data, enc.samples_out / enc.out_rate

    def finish(self, plan: Plan, error: BaseException | None = None) -> None:
        """Record one request's end: counters and the request log line."""
        if error is not None and plan.status == "ok":
            plan.status = "error"
        if plan.status == "error":
            self.metrics.inc("requests_failed_total")
        elapsed = time.monotonic() - plan.started
        if plan.status == "ok":
            self.metrics.observe_latency(elapsed)
        self.metrics.inc("audio_seconds_total", plan.audio_seconds)
        self.metrics.inc("characters_total", plan.characters)
        log.info(json.dumps({
            "request_id": plan.request_id, "route": plan.route, "voice": plan.voice_label,
            "characters": plan.characters, "segments": len(plan.segments),
            "audio_seconds": round(plan.audio_seconds, 3),
            "ttfa": None if plan.ttfa is None else round(plan.ttfa, 4), "seconds": round(elapsed, 4),
            "status": plan.status, "error": None if error is None else str(error)[:200],
        }, ensure_ascii=False))


async def encode_step(enc: audio.Encoder, fn: Callable[..., bytes], *args) -> bytes:
    """Run an encoder step; codec work (mp3, opus, aac, flac) goes to a worker thread, so many
    concurrent streams never hold up the event loop."""
    if enc.compresses:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)


class LiveFramer:
    """A live encoder whose container header travels with the first audio (so nothing is sent before the
    engine made sound): one place for every stream (HTTP, SSE, the WebSocket)."""

    def __init__(self, enc: audio.Encoder) -> None:
        self.enc = enc
        self._head = enc.header()

    async def write(self, samples: np.ndarray) -> bytes:
        """The encoded bytes of ``samples`` (the header first, once there is audio); b"" while the codec waits."""
        data = await encode_step(self.enc, self.enc.write, samples)
        if not data:
            return b""
        head, self._head = self._head, b""
        return head + data

    async def finish(self) -> bytes:
        """The rest: the codec's tail (with the header, when no audio came at all)."""
        tail = await encode_step(self.enc, self.enc.finish)
        head, self._head = self._head, b""
        return head + tail if head or tail else b""

