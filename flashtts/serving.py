"""The serving layer: turns validated API requests into engine work and encoded audio.

Routes stay thin: they parse their protocol's model, call :meth:`SpeechService.plan` (which
validates everything before any byte is sent), then hand the plan to one of the response
builders here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace

import numpy as np

from flashtts import audio
from flashtts.config import ServerConfig
from flashtts.engine import Engine, GenerationOptions, ReferenceAudio, SynthesisRequest, TimedChunk, WordTiming
from flashtts.errors import APIError, TimeoutError_, error_type, to_api_error
from flashtts.languages import check_script, speech_language
from flashtts.metrics import Metrics
from flashtts.middleware import current_request_id, new_request_id
from flashtts.normalize import normalize as normalize_text
from flashtts.registry import Role, RoleNotFoundError, SpeakerRegistry, name_key
from flashtts.scheduler import Admission
from flashtts.security import current_client
from flashtts.text import parse_dialogue, split_text
from flashtts.url_fetch import AudioURLFetcher, is_url
from flashtts.voices import match_voice

log = logging.getLogger("flashtts.requests")

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                 "verse", "marin", "cedar")
"""OpenAI's stock voice names; they speak with the engine's default voice unless a role claims them."""

Disconnected = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class VoiceChoice:
    """A voice resolved to what the engine needs."""

    label: str
    voice: str | None = None
    reference: ReferenceAudio | None = None
    instructions: str | None = None
    speed: float | None = None
    language: str | None = None


@dataclass(frozen=True)
class Utterance:
    """What to say in which voice, with the request's own overrides."""

    text: str
    voice: VoiceChoice
    instructions: str | None = None
    speed: float | None = None
    pitch: float | None = None
    language: str | None = None


@dataclass
class Plan:
    """A request checked and cut into engine segments, ready to run."""

    request_id: str
    route: str
    segments: list[SynthesisRequest]
    response_format: str
    speed: float
    pitch: float
    voice_label: str
    characters: int
    started: float = field(default_factory=time.monotonic)
    audio_seconds: float = 0.0
    ttfa: float | None = None
    status: str = "ok"
    out_rate: int = audio.OUTPUT_RATE
    """Sample rate of the encoded answer (24 kHz unless a compatibility API wants another)."""
    words: list[WordTiming] = field(default_factory=list)
    """Word timings heard so far, on the plan's audio timeline (when its segments ask for timestamps)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (``X-Instructions-Ignored``)."""


class SpeechService:
    def __init__(self, config: ServerConfig, engine: Engine, registry: SpeakerRegistry, metrics: Metrics) -> None:
        self.config = config
        self.engine = engine
        self.registry = registry
        self.metrics = metrics
        self.admission = Admission(config.queue_limit, metrics, config.limits.max_streams_per_key)
        self._audio_cache: dict[tuple[str, str], np.ndarray] = {}

    # ---- voices ---------------------------------------------------------------------------
    def _reference_for(self, role: Role) -> ReferenceAudio:
        key = (name_key(role.name), role.audio_sha256 or "")
        samples = self._audio_cache.get(key)
        if samples is None:
            role, samples, _ = self.registry.get_with_audio(role.name)  # one consistent version
            key = (name_key(role.name), role.audio_sha256 or "")
            if samples is None:
                raise RoleNotFoundError(role.name)
            if len(self._audio_cache) > 64:
                self._audio_cache.clear()
            self._audio_cache[key] = samples
        return ReferenceAudio(samples=samples, sample_rate=role.sample_rate or self.engine.info.sample_rate,
                              text=role.reference_text, cache_key=f"{key[0]}-{key[1]}",
                              cache_dir=self.registry.role_dir(role.name))

    def resolve_voice(self, name: str, param: str = "voice") -> VoiceChoice:
        """A built-in voice, a role, or an OpenAI stock name; else a 400 listing what exists."""
        info = self.engine.info
        if name in info.voice_ids():
            return VoiceChoice(label=name, voice=name)
        try:
            role = self.registry.get(name)
        except RoleNotFoundError:
            role = None
        if role is not None:
            voice = role.voice if role.voice in info.voice_ids() else None
            if voice is None and not role.has_audio:
                voice = info.default_voice
            return VoiceChoice(
                label=role.name,
                voice=voice,
                reference=self._reference_for(role) if role.has_audio and voice is None else None,
                instructions=role.instructions,
                speed=role.speed,
                language=role.language,
            )
        if name.lower() in OPENAI_VOICES and info.default_voice is not None:
            return VoiceChoice(label=name, voice=info.default_voice)
        matched = match_voice(info, name)  # JOE, male, female, other servers' preset speakers
        if matched is not None:
            log.info("voice '%s' speaks with engine voice '%s'", name, matched)
            return VoiceChoice(label=name, voice=matched)
        if not info.voices and info.capabilities.voice_design:
            # the voice is whatever the instructions describe; the name is only a label
            return VoiceChoice(label=name)
        known = sorted(info.voice_ids()) + self.registry.names()
        raise APIError(f"unknown voice '{name}'; available voices: {', '.join(known) or 'none'}",
                       param=param, code="voice_not_found")

    def reference_voice(self, samples: np.ndarray, rate: int, text: str | None) -> VoiceChoice:
        """An ad-hoc clone voice from an uploaded clip."""
        return VoiceChoice(label="reference", reference=ReferenceAudio(samples=samples, sample_rate=rate, text=text))

    def decode_reference(self, data: bytes, param: str) -> tuple[np.ndarray, int]:
        """Decode an uploaded clip and check its length against the limits.

        Decoding stops as soon as the clip passes the length limit, so a small file that
        expands to hours of audio costs no more than a clip of the longest allowed length.
        """
        limits = self.config.limits
        if len(data) > limits.max_upload_bytes:
            raise APIError(f"{param}: audio is larger than {limits.max_upload_bytes} bytes", param=param,
                           status=413, code="file_too_large")
        rate = self.engine.info.sample_rate
        try:
            samples = audio.decode(data, rate, max_seconds=limits.max_reference_seconds)
        except audio.AudioTooLongError:
            raise APIError(f"{param}: clip is longer than {limits.max_reference_seconds:g} s; at most "
                           f"{limits.max_reference_seconds:g} s allowed", param=param, code="audio_too_long") from None
        except audio.AudioDecodeError as exc:
            raise APIError(f"{param}: {exc}", param=param, code="invalid_audio") from None
        seconds = len(samples) / rate
        if seconds < limits.min_reference_seconds:
            raise APIError(f"{param}: clip is {seconds:.2f} s; at least {limits.min_reference_seconds:g} s needed",
                           param=param, code="audio_too_short")
        if seconds > limits.max_reference_seconds:
            raise APIError(f"{param}: clip is {seconds:.1f} s; at most {limits.max_reference_seconds:g} s allowed",
                           param=param, code="audio_too_long")
        if not np.any(np.abs(samples) > 1e-4):
            raise APIError(f"{param}: clip is silent", param=param, code="invalid_audio")
        return samples, rate

    async def load_reference(self, data: bytes, param: str) -> tuple[np.ndarray, int]:
        """:meth:`decode_reference` on a worker thread (never on the event loop), admitted like
        synthesis: uploads count against the same limits."""
        ticket = self.admit()
        try:
            return await asyncio.to_thread(self.decode_reference, data, param)
        finally:
            ticket.release()

    # ---- planning -------------------------------------------------------------------------
    def check_text(self, text: str, param: str = "input") -> None:
        limit = self.config.limits.max_text_chars
        if not text or not text.strip():
            raise APIError(f"{param} is empty", param=param, code="empty_input")
        if len(text) > limit:
            raise APIError(f"{param} is {len(text)} characters; the limit is {limit}", param=param,
                           code="input_too_long")

    async def plan(self, route: str, utterances: list[Utterance], **kwargs) -> Plan:
        """:meth:`plan_now` on a worker thread: splitting and checking a long text never holds the loop."""
        return await asyncio.to_thread(self.plan_now, route, utterances, **kwargs)

    def plan_now(
        self,
        route: str,
        utterances: list[Utterance],
        *,
        response_format: str,
        options: GenerationOptions,
        length_threshold: int | None = None,
        window_size: int | None = None,
        stream: bool = False,
        timestamps: bool = False,
        text_param: str = "input",
        optional_instructions: bool = False,
        normalize: bool = True,
    ) -> Plan:
        """Validate and segment; raises APIError/CapabilityError before anything is sent.

        ``optional_instructions``: the API treats instructions as a hint (OpenAI's), so an engine that
        cannot follow them ignores them (see :meth:`_without_unfollowable_instructions`).
        ``normalize``: text is read as a person would (:mod:`flashtts.normalize`).
        """
        if response_format not in audio.FORMATS:
            raise APIError(f"unknown response_format '{response_format}'", param="response_format")
        request_id = current_request_id() or new_request_id()
        job_id = new_request_id()  # engine ids stay unique even when clients reuse an X-Request-Id
        threshold = length_threshold or self.config.length_threshold
        window = window_size or self.config.window_size
        segments: list[SynthesisRequest] = []
        total_chars = 0
        first = utterances[0]
        speed = first.speed or first.voice.speed or 1.0
        pitch = first.pitch or 1.0
        headers: dict[str, str] = {}
        for utt in utterances:
            total_chars += len(utt.text)
            if not (utt.language or utt.voice.language):
                check_script(self.engine.info, utt.voice.voice, utt.text, text_param)
            if optional_instructions:
                utt = self._without_unfollowable_instructions(utt, headers)
            if normalize:
                lang = speech_language(self.engine.info, utt.voice.voice, utt.language or utt.voice.language, utt.text)
                utt = replace(utt, text=normalize_text(utt.text, lang))
            for piece in split_text(utt.text, threshold, window):
                seg = SynthesisRequest(
                    request_id=f"{job_id}-{len(segments)}",
                    text=piece,
                    voice=utt.voice.voice,
                    reference=utt.voice.reference,
                    instructions=utt.instructions or utt.voice.instructions,
                    language=(utt.language or utt.voice.language or "auto"),
                    speed=utt.speed or utt.voice.speed or 1.0,
                    options=options,
                    stream=stream,
                    timestamps=timestamps,
                )
                self._drop_unsupported_role_defaults(seg, utt)
                self.engine.validate(seg)
                segments.append(seg)
        if not segments:
            raise APIError("nothing to speak: the text is empty", param="input", code="empty_input")
        limit = self.config.limits.max_text_chars
        if total_chars > limit:
            raise APIError(f"text is {total_chars} characters; the limit is {limit}", param="input",
                           code="input_too_long")
        return Plan(request_id, route, segments, response_format, speed, pitch,
                    ", ".join(dict.fromkeys(u.voice.label for u in utterances)), total_chars, headers=headers)

    def _without_unfollowable_instructions(self, utt: Utterance, headers: dict[str, str]) -> Utterance:
        """Instructions the engine cannot follow are a hint it ignores (as OpenAI's tts-1 does), noted in
        ``X-Instructions-Ignored``; ``--strict_instructions`` keeps them, so the engine's check refuses them."""
        caps = self.engine.info.capabilities
        if not utt.instructions or caps.instruct or caps.voice_design or self.config.strict_instructions:
            return utt
        headers["X-Instructions-Ignored"] = "true"
        return replace(utt, instructions=None)

    def _drop_unsupported_role_defaults(self, seg: SynthesisRequest, utt: Utterance) -> None:
        """A role's stored instructions/language are preferences: drop them where the engine lacks them."""
        caps = self.engine.info.capabilities
        if not utt.instructions and seg.instructions and not (caps.instruct or caps.voice_design):
            seg.instructions = None
        if not utt.language and seg.language.lower() not in {x.lower() for x in self.engine.info.languages}:
            seg.language = "auto"

    def dialogue(self, text: str) -> list[tuple[str, str]]:
        try:
            return [(t.role, t.text) for t in parse_dialogue(text)]
        except ValueError as exc:
            raise APIError(f"text: {exc}", param="text", code="invalid_dialogue") from None

    # ---- running --------------------------------------------------------------------------
    def admit(self, client: str | None = None) -> Ticket:
        """A slot for one request (429 when the server, or this client, is at its limit).

        The client is ``client`` or, by default, the one the edge middleware identified (API key,
        else address)."""
        client = client or current_client()
        self.admission.acquire(client)
        self.metrics.inc("requests_total")
        return Ticket(self, client)

    async def samples(self, plan: Plan, disconnected: Disconnected | None = None) -> AsyncGenerator[np.ndarray, None]:
        """Engine audio of the whole plan at the engine's rate, speed/pitch applied, with deadline,
        disconnect checks and abort on early close."""
        info = self.engine.info
        native_speed = info.capabilities.speed
        effects = None
        post_speed = 1.0 if native_speed else plan.speed
        if abs(post_speed - 1.0) > 1e-6 or abs(plan.pitch - 1.0) > 1e-6:
            effects = audio.Effects(info.sample_rate, speed=post_speed, pitch=plan.pitch)
        deadline = plan.started + self.config.request_timeout
        finished = False
        current: SynthesisRequest | None = None
        heard = 0.0  # seconds of output before the current chunk, for word timings
        try:
            for seg in plan.segments:
                current = seg
                seg_start = heard
                if not native_speed:
                    seg = replace(seg, speed=1.0)
                stream = self.engine.synthesize(seg)
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
                        if isinstance(chunk, TimedChunk):
                            plan.words.extend(w.shifted(seg_start, 1.0 / post_speed) for w in chunk.words)
                            chunk = chunk.audio
                        heard += len(chunk) / info.sample_rate / post_speed
                        if effects is not None:
                            chunk = await asyncio.to_thread(effects, chunk)  # ffmpeg filters, off the loop
                        if plan.ttfa is None and len(chunk):
                            plan.ttfa = time.monotonic() - plan.started
                            self.metrics.observe_ttfa(plan.ttfa)
                        plan.audio_seconds += len(chunk) / info.sample_rate
                        if len(chunk):
                            yield chunk
                finally:
                    await stream.aclose()
            if effects is not None:
                tail = await asyncio.to_thread(effects, None)
                plan.audio_seconds += len(tail) / info.sample_rate
                if len(tail):
                    yield tail
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

    async def encoded(self, plan: Plan, disconnected: Disconnected | None = None) -> AsyncGenerator[bytes, None]:
        """A live stream of the plan's audio in its response format.

        The container header travels with the first audio, so the first part exists only once the
        engine produced sound: a failure before it can still be answered with an error status.
        """
        enc = audio.Encoder(plan.response_format, self.engine.info.sample_rate, live=True, out_rate=plan.out_rate)
        head = enc.header()
        async with aclosing(self.samples(plan, disconnected)) as chunks:
            async for chunk in chunks:
                data = await encode_step(enc, enc.write, chunk)
                if data:
                    yield head + data
                    head = b""
        tail = await encode_step(enc, enc.finish)
        if head or tail:
            yield head + tail

    async def sse(self, plan: Plan, disconnected: Disconnected | None = None) -> AsyncGenerator[str, None]:
        """OpenAI's SSE events: ``speech.audio.delta`` chunks, then ``speech.audio.done`` (or ``error``)."""
        try:
            sent = 0
            async with aclosing(self.encoded(plan, disconnected)) as parts:
                async for data in parts:
                    yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
                    if len(plan.words) > sent:  # timings of the words this audio completed
                        yield _sse(words_event(plan.words[sent:]))
                        sent = len(plan.words)
            if len(plan.words) > sent:
                yield _sse(words_event(plan.words[sent:]))
        except Exception as exc:  # the stream is open: report in-band
            err = to_api_error(exc)
            plan.status = "error"
            yield _sse({"type": "error", "error": {"message": err.message, "type": error_type(err), "code": err.code}})
            return
        yield _sse({"type": "speech.audio.done", "usage": {
            "input_tokens": plan.characters, "output_tokens": int(round(plan.audio_seconds * 1000 / 80)),
            "total_tokens": plan.characters + int(round(plan.audio_seconds * 1000 / 80)),
            "audio_seconds": round(plan.audio_seconds, 3)}})

    async def complete(self, plan: Plan, disconnected: Disconnected | None = None) -> tuple[bytes, float]:
        """The whole file and its duration in seconds; stops early (499) when the client has gone."""
        enc = audio.Encoder(plan.response_format, self.engine.info.sample_rate, live=False, out_rate=plan.out_rate)
        async with aclosing(self.samples(plan, disconnected)) as chunks:
            async for chunk in chunks:
                await encode_step(enc, enc.write, chunk)
        if plan.status == "disconnected":
            raise APIError("client closed the connection before the audio was complete", status=499,
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


class Ticket:
    """An admitted request: its synthesis slot and its client's count; each released once."""

    def __init__(self, service: SpeechService, client: str | None = None) -> None:
        self._service = service
        self._client = client
        self._slot = True
        self._open = True

    def generated(self) -> None:
        """Synthesis is over: free the slot (the answer may still be draining to the client)."""
        if self._slot:
            self._slot = False
            self._service.admission.release_slot()

    def release(self) -> None:
        """The request is over: free the slot if still held and the client's count."""
        self.generated()
        if self._open:
            self._open = False
            self._service.admission.release_client(self._client)


async def encode_step(enc: audio.Encoder, fn: Callable[..., bytes], *args) -> bytes:
    """Run an encoder step; codec work (mp3, opus, aac, flac) goes to a worker thread, so many
    concurrent streams never hold up the event loop."""
    if enc.compresses:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=True)}\n\n"


def words_event(words: list[WordTiming]) -> dict:
    """The SSE/WebSocket event carrying word timings (seconds from the start of the answer's audio)."""
    return {"type": "speech.audio.words", "words": [w.as_dict() for w in words]}


class RoleService:
    """Role management shared by FlashTTS's and OpenAI's routes."""

    def __init__(self, speech: SpeechService) -> None:
        self.speech = speech
        self.registry = speech.registry

    async def audio_bytes(self, upload: bytes | None, encoded: str | None, param: str) -> bytes | None:
        """The clip from a file upload, a base64 string, or (when enabled) an allowed http(s) URL."""
        if upload:
            return upload
        if not encoded:
            return None
        value = encoded.strip()
        if is_url(value):
            config = self.speech.config
            return await AudioURLFetcher(config.audio_urls, config.limits.max_upload_bytes).fetch(value, param)
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise APIError(f"{param}: not valid base64 audio", param=param, code="invalid_audio") from None

    async def voice_from(self, value: str, param: str = "voice") -> VoiceChoice:
        """A voice name, or (FlashTTS) a base64 clip or audio URL to clone from."""
        if len(value) <= 256 and not is_url(value) and not value.startswith("data:"):
            return self.speech.resolve_voice(value, param)
        data = await self.audio_bytes(None, value, param)
        assert data is not None
        samples, rate = await self.speech.load_reference(data, param)
        return self.speech.reference_voice(samples, rate, None)

    async def add(self, name: str, clip: bytes | None, **kwargs) -> Role:
        """Decode the clip and write the role on a worker thread (decoding and fsync never block the
        loop), admitted like synthesis."""
        ticket = self.speech.admit()
        try:
            return await asyncio.to_thread(self.add_sync, name, clip, **kwargs)
        finally:
            ticket.release()

    def add_sync(self, name: str, clip: bytes | None, *, reference_text: str | None = None, voice: str | None = None,
                 instructions: str | None = None, speed: float | None = None, language: str | None = None,
                 description: str = "", overwrite: bool = False, param: str = "audio") -> Role:
        from flashtts.registry import RoleError, RoleExistsError

        info = self.speech.engine.info
        if voice is not None and voice not in info.voice_ids():
            raise APIError(f"unknown built-in voice '{voice}'; this engine has: {', '.join(sorted(info.voice_ids()))}",
                           param="voice", code="voice_not_found")
        if clip is None and voice is None and not instructions:
            raise APIError("give reference audio (file or base64), a built-in voice, or instructions",
                           param=param, code="missing_audio")
        samples = rate = None
        if clip is not None:
            samples, rate = self.speech.decode_reference(clip, param)
        role = Role(name=name, voice=voice, engine=info.name, reference_text=reference_text or None,
                    language=language or None, instructions=instructions or None, speed=speed,
                    description=description)
        try:
            return self.registry.add(role, samples, rate, overwrite=overwrite)
        except RoleError as exc:
            raise APIError(str(exc), param="name", code="invalid_name") from None
        except RoleExistsError as exc:
            raise APIError(str(exc) + " (send overwrite=true to replace it)", param="name", status=409,
                           code="role_exists") from None
        except OSError as exc:
            raise APIError(f"could not store role: {exc.strerror or exc}", status=507,
                           code="storage_error") from None

    def delete(self, name: str) -> None:
        from flashtts.errors import NotFoundError
        from flashtts.registry import RoleError

        try:
            self.registry.delete(name)
            self.speech._audio_cache.clear()
        except RoleError as exc:
            raise APIError(str(exc), param="name", code="invalid_name") from None
        except RoleNotFoundError:
            raise NotFoundError(f"role '{name}' not found", param="name", code="role_not_found") from None
