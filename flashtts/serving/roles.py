"""Role management shared by every API that stores voices (created once with the service)."""

from __future__ import annotations

import asyncio
import base64
import builtins

from flashtts.errors import APIError, StorageError
from flashtts.serving.plans import VoiceChoice
from flashtts.serving.url_fetch import AudioURLFetcher, is_url
from flashtts.serving.voices import Voices
from flashtts.voices.mixing import looks_like_mix
from flashtts.voices.registry import Role


class RoleService:
    """Role management shared by FlashTTS's and OpenAI's routes."""

    def __init__(self, voices: Voices) -> None:
        self.voices = voices
        self.registry = voices.registry

    async def audio_bytes(self, upload: bytes | None, encoded: str | None, param: str) -> bytes | None:
        """The clip from a file upload, a base64 string, or (when enabled) an allowed http(s) URL."""
        if upload:
            return upload
        if not encoded:
            return None
        value = encoded.strip()
        if is_url(value):
            config = self.voices.config
            return await AudioURLFetcher(config.audio_urls, config.limits.max_upload_bytes).fetch(value, param)
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise APIError(f"{param}: not valid base64 audio", param=param, code="invalid_audio") from None

    async def voice_from(self, value: str, param: str = "voice", *, client: str | None) -> VoiceChoice:
        """A voice name, or (FlashTTS) a base64 clip or audio URL to clone from (decoded in ``client``'s
        slot)."""
        if len(value) <= 256 and not is_url(value) and not value.startswith("data:"):
            return self.voices.resolve_voice(value, param)
        try:
            data = await self.audio_bytes(None, value, param)
            assert data is not None
            samples, rate = await self.voices.load_reference(data, param, client)
        except APIError as exc:
            if exc.code != "invalid_audio":
                raise
            raise APIError(f"{param}: neither a voice name (at most 256 characters) nor a clip to clone from "
                           f"({exc.message.removeprefix(param + ': ')})", param=param, code="invalid_audio") from None
        return self.voices.reference_voice(samples, rate, None)

    async def add(self, name: str, clip: bytes | None, *, client: str | None, **kwargs) -> Role:
        """Decode the clip and write the role on a worker thread (decoding and fsync never block the
        loop), admitted like synthesis."""
        ticket = self.voices.execution.admit(client)
        try:
            return await asyncio.to_thread(self.add_sync, name, clip, **kwargs)
        finally:
            ticket.release()

    def add_sync(self, name: str, clip: bytes | None, *, reference_text: str | None = None, voice: str | None = None,
                 instructions: str | None = None, speed: float | None = None, language: str | None = None,
                 description: str = "", overwrite: bool = False, param: str = "audio") -> Role:
        """Check, decode and store; the registry's refusals (bad name, exists) reach the one error mapping."""
        info = self.voices.engine.info
        if voice is not None and looks_like_mix(voice):
            voice = self.voices.resolve_mix(voice, "voice").name  # stored as built-in voices and their shares
        if voice is not None and voice not in info.voice_ids() and not looks_like_mix(voice):
            raise APIError(f"unknown built-in voice '{voice}'; this engine has: {', '.join(sorted(info.voice_ids()))}",
                           param="voice", code="voice_not_found")
        if clip is None and voice is None and not instructions:
            raise APIError("give reference audio (file or base64), a built-in voice, or instructions",
                           param=param, code="missing_audio")
        samples = rate = None
        if clip is not None:
            samples, rate = self.voices.decode_reference(clip, param)
        role = Role(name=name, voice=voice, engine=info.name, reference_text=reference_text or None,
                    language=language or None, instructions=instructions or None, speed=speed,
                    description=description)
        try:
            return self.registry.add(role, samples, rate, overwrite=overwrite)
        except OSError as exc:
            raise StorageError(f"could not store role: {exc.strerror or exc}", code="storage_error") from None

    async def delete(self, name: str) -> Role:
        """Remove a role (on a worker thread: the registry's lock and fsync never hold the loop)."""
        role = await asyncio.to_thread(self.registry.delete, name)
        self.voices._audio_cache.clear()
        return role

    async def list(self) -> builtins.list[Role]:
        """Every role, read on a worker thread."""
        return await asyncio.to_thread(self.registry.list)
