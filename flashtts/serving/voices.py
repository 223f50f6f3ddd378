"""Voice resolution: built-in voices, roles, OpenAI's stock names and other servers' speakers, clips."""

from __future__ import annotations

import asyncio
import difflib
import logging

import numpy as np

from flashtts import audio
from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine, ReferenceAudio, capability_error
from flashtts.errors import APIError, TooLargeError
from flashtts.serving.execution import Execution
from flashtts.serving.plans import VoiceChoice
from flashtts.serving.role_lexicon import role_entries
from flashtts.voices.matching import match_voice
from flashtts.voices.mixing import MixError, VoiceMix, looks_like_mix, parse_mix
from flashtts.voices.registry import Role, RoleNotFoundError, SpeakerRegistry, name_key

log = logging.getLogger("flashtts.requests")

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                 "verse", "marin", "cedar")
"""OpenAI's stock voice names; they speak with the engine's default voice unless a role claims them."""
MAX_LISTED = 20
"""An unknown voice's error lists every voice up to this many (then only the close names)."""


class Voices:
    """Turning what a request names into what the engine needs."""

    def __init__(self, config: ServerConfig, engine: Engine, registry: SpeakerRegistry, execution: Execution) -> None:
        self.config = config
        self.engine = engine
        self.registry = registry
        self.execution = execution
        """Admits reference clips being decoded, as synthesis is admitted."""
        self._audio_cache: dict[tuple[str, str], np.ndarray] = {}

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
        """A built-in voice, a role, a mix (``af_bella(2)+af_sky(1)``) or an OpenAI stock name; else a 400
        listing what exists."""
        info = self.engine.info
        if name in info.voice_ids():
            return VoiceChoice(label=name, voice=name)
        if looks_like_mix(name):
            mix = self.resolve_mix(name, param)
            return VoiceChoice(label=name, voice=mix.voices[0], mix=mix.parts)
        try:
            role = self.registry.get(name)
        except RoleNotFoundError:
            role = None
        if role is not None:
            parts: tuple[tuple[str, float], ...] = ()
            if role.voice is not None and looks_like_mix(role.voice):
                parts = self.resolve_mix(role.voice, param, role=role.name).parts
            voice = parts[0][0] if parts else role.voice if role.voice in info.voice_ids() else None
            if voice is None and not role.has_audio:
                voice = info.default_voice
            return VoiceChoice(
                label=role.name,
                voice=voice,
                reference=self._reference_for(role) if role.has_audio and voice is None else None,
                instructions=role.instructions,
                speed=role.speed,
                language=role.language,
                mix=parts,
                lexicon=role_entries(role),
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

    def resolve_mix(self, value: str, param: str = "voice", role: str | None = None) -> VoiceMix:
        """A mix of this engine's voices (roles that speak a built-in voice or a mix count as theirs),
        or a 400 naming what is wrong: malformed, an engine that cannot mix, a part that is unknown, a
        clone or another engine's role."""
        info = self.engine.info
        where = f"role '{role}': " if role else ""
        try:
            mix = parse_mix(value)
        except MixError as exc:
            raise APIError(f"{where}{exc}", param=param, code="invalid_voice_mix") from None
        caps = info.capabilities
        if not caps.voice_mixing:
            raise APIError(str(capability_error(info, "voice_mixing", f"{where}'{value}'")), param=param,
                           code="unsupported_capability")
        weights: dict[str, float] = {}
        for part, weight in mix.parts:
            for voice, share in self._mix_part(part, value, param, where):
                weights[voice] = weights.get(voice, 0.0) + weight * share
        return VoiceMix(tuple(weights.items()))

    def _mix_part(self, part: str, value: str, param: str, where: str) -> tuple[tuple[str, float], ...]:
        """One part of a mix as built-in voices with shares of one."""
        info = self.engine.info
        if part in info.voice_ids():
            return ((part, 1.0),)
        folded = {v.lower(): v for v in info.voice_ids()}
        if part.lower() in folded:
            return ((folded[part.lower()], 1.0),)
        try:
            role = self.registry.get(part)
        except RoleNotFoundError:
            known = ", ".join(sorted(info.voice_ids()))
            raise APIError(f"{where}unknown voice '{part}' in mix '{value}'; this engine's voices: {known}",
                           param=param, code="voice_not_found") from None
        if role.engine and role.engine != info.name:
            raise APIError(f"{where}mix '{value}' mixes voices of different engines: role '{role.name}' was made "
                           f"for engine '{role.engine}', this server runs '{info.name}'", param=param,
                           code="mixed_engines")
        if role.voice is not None and looks_like_mix(role.voice):
            try:
                return parse_mix(role.voice).parts
            except MixError as exc:
                raise APIError(f"role '{role.name}': {exc}", param=param, code="invalid_voice_mix") from None
        if role.voice in info.voice_ids():
            return ((role.voice, 1.0),)
        if role.has_audio or role.voice is not None or info.default_voice is None:
            what = ("clones a reference clip" if role.has_audio
                    else f"speaks voice '{role.voice}', not one of this engine's")
            raise APIError(f"{where}mix '{value}': role '{role.name}' {what}; only built-in voices mix",
                           param=param, code="voice_not_mixable")
        return ((info.default_voice, 1.0),)

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
            raise TooLargeError(f"{param}: audio is larger than {limits.max_upload_bytes} bytes", param=param,
                                code="file_too_large")
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

    async def load_reference(self, data: bytes, param: str, client: str | None) -> tuple[np.ndarray, int]:
        """:meth:`decode_reference` on a worker thread (never on the event loop), admitted like
        synthesis (for ``client``): uploads count against the same limits."""
        ticket = self.execution.admit(client)
        try:
            return await asyncio.to_thread(self.decode_reference, data, param)
        finally:
            ticket.release()
