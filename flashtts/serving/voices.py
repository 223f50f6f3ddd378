"""Voice resolution: built-in voices, roles, OpenAI's stock names and other servers' speakers, clips."""

from __future__ import annotations

import asyncio
import difflib
import logging

import numpy as np

from flashtts import audio
from flashtts.engine import ReferenceAudio
from flashtts.errors import APIError
from flashtts.registry import Role, RoleNotFoundError, name_key
from flashtts.serving.plans import VoiceChoice
from flashtts.serving.state import ServiceState
from flashtts.voices import match_voice

log = logging.getLogger("flashtts.requests")

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                 "verse", "marin", "cedar")
"""OpenAI's stock voice names; they speak with the engine's default voice unless a role claims them."""
MAX_LISTED = 20
"""An unknown voice's error lists every voice up to this many (then only the close names)."""


class Voices(ServiceState):
    """Turning what a request names into what the engine needs."""

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
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        listing = (f"available voices: {', '.join(known) or 'none'}" if len(known) <= MAX_LISTED else
                   f"{len(known)} voices are available (GET /v1/audio/voices lists them)")
        raise APIError(f"unknown voice '{name}'{hint}; {listing}", param=param, code="voice_not_found")

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
