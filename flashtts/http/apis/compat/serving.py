"""Serving logic shared by the compatibility routes (``flashtts.http.apis.compat``).

* voice names other systems use (Qwen3-TTS's nine preset speakers, CosyVoice's SFT speakers)
  resolved to the closest voice this engine has;
* voice attributes (gender, age, emotion) mapped to a voice and, where the engine follows
  instructions, a style instruction;
* complete-file answers (admission, counters) with an optional LRU result cache in bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import asdict

from fastapi import Request
from fastapi.responses import Response

from flashtts.engine import capability_error
from flashtts.serving import Plan, SpeechService, VoiceChoice
from flashtts.text.scripts import guess_language
from flashtts.voices.matching import KNOWN_VOICES, Traits, age_group, closest_voice, voice_traits  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


def default_voice(service: SpeechService, label: str = "default") -> VoiceChoice:
    return VoiceChoice(label=label, voice=service.engine.info.default_voice)


# ---- voice attributes (gender / age / emotion) ----------------------------------------------
EMOTIONS = {
    "happy": "a happy, cheerful tone",
    "sad": "a sad, subdued tone",
    "angry": "an angry, intense tone",
    "neutral": "a calm, neutral tone",
    "excited": "an excited, energetic tone",
    "calm": "a calm, relaxed tone",
    "fearful": "a fearful, anxious tone",
    "surprised": "a surprised tone",
    "disgusted": "a disgusted tone",
}


def attribute_instructions(gender: str | None, age: int | None, emotion: str | None) -> str | None:
    """A style instruction (English, as Qwen3-TTS's instruct models understand) from voice attributes."""
    who = {"male": "man", "female": "woman"}.get(gender or "", "person")
    parts = []
    if age is not None:
        parts.append(f"Speak as a {age}-year-old {who}")
    elif gender in ("male", "female"):
        parts.append(f"Speak as a {who}")
    if emotion:
        tone = EMOTIONS.get(emotion.lower(), f"a {emotion.lower()} tone")
        parts.append(f"{'in' if parts else 'Speak in'} {tone}")
    return (" ".join(parts) + ".") if parts else None


def voice_for_attributes(service: SpeechService, gender: str | None, age: int | None, emotion: str | None,
                         text: str) -> VoiceChoice:
    """The closest voice for the attributes, with them as instructions where the engine follows any.

    On an engine without instructions the attributes only choose the voice (never an error).
    """
    info = service.engine.info
    caps = info.capabilities
    want = Traits(gender if gender in ("male", "female") else None, age_group(age), guess_language(text))
    voice = closest_voice(info, want) if info.voices else info.default_voice
    instructions = attribute_instructions(gender, age, emotion) if caps.follows_instructions else None
    label = "/".join(str(x) for x in (gender, age, emotion) if x is not None) or "default"
    return VoiceChoice(label=label, voice=voice, instructions=instructions)


# ---- capabilities ---------------------------------------------------------------------------
def require(service: SpeechService, capability: str, what: str) -> None:
    """Refuse up front (before reading uploads) what the engine cannot do: a 400 naming what it can."""
    info = service.engine.info
    if not info.capabilities.has(capability):
        raise capability_error(info, capability, what)


# ---- complete answers and the result cache -----------------------------------------------
class ResultCache:
    """LRU of complete answers keyed by what determines them (text, voice, options), bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def key(plan: Plan) -> str:
        segments = []
        for seg in plan.segments:
            ref: list[str | None] | None = None
            if seg.reference is not None:
                ref = [seg.reference.cache_key or hashlib.sha256(seg.reference.samples.tobytes()).hexdigest(),
                       seg.reference.text]
            segments.append([seg.text, seg.voice, ref, seg.instructions, seg.language, seg.speed,
                             asdict(seg.options)])
        blob = json.dumps([plan.response_format, plan.out_rate, plan.speed, plan.pitch, segments],
                          ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> tuple[bytes, float] | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, data: bytes, seconds: float) -> None:
        if not self.enabled or len(data) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= len(old[0])
        self._items[key] = (data, seconds)
        self.bytes += len(data)
        while self.bytes > self.max_bytes:
            _, (evicted, _) = self._items.popitem(last=False)
            self.bytes -= len(evicted)


def result_cache(request: Request) -> ResultCache:
    """The app's result cache (created on first use from ``ServerConfig.result_cache_mb``)."""
    state = request.app.state
    cache = getattr(state, "result_cache", None)
    if cache is None:
        cache = ResultCache(int(state.config.result_cache_mb * 1024 * 1024))
        state.result_cache = cache
    return cache


async def complete_many(service: SpeechService, request: Request, plans: list[Plan]) -> list[tuple[bytes, float]]:
    """Complete files for several plans at once (they batch in the engine); all admitted up front,
    so a full server refuses the whole request with 429 rather than half of it. Served from the
    result cache when it is on and holds the answer."""
    cache = result_cache(request)
    if len(plans) > 1:  # plans of one HTTP request share its id: keep their engine requests apart
        for i, plan in enumerate(plans):
            for j, seg in enumerate(plan.segments):
                seg.request_id = f"{plan.request_id}-{i}.{j}"
    results: list[tuple[bytes, float] | None] = [None] * len(plans)
    keys: list[str | None] = [None] * len(plans)
    todo: list[int] = []
    for i, plan in enumerate(plans):
        if cache.enabled:
            keys[i] = key = cache.key(plan)
            hit = cache.get(key)
            if hit is not None:
                results[i] = hit
                service.metrics.inc("requests_total")
                service.metrics.inc("result_cache_hits_total")
                continue
        todo.append(i)
    tickets = []
    try:
        for i in todo:
            tickets.append(service.admit(plans[i].client))
    except BaseException:
        for ticket in tickets:
            ticket.release()
        raise

    async def run(i: int, ticket) -> None:
        error: BaseException | None = None
        try:
            results[i] = await service.complete(plans[i], request.is_disconnected)
        except BaseException as exc:
            error = exc
            raise
        finally:
            ticket.release()
            service.finish(plans[i], error)
        key, result = keys[i], results[i]
        if key is not None and result is not None:
            cache.put(key, *result)

    tasks = [asyncio.ensure_future(run(i, t)) for i, t in zip(todo, tickets, strict=True)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return results  # type: ignore[return-value]  # every slot is filled by now


def file_response(plan: Plan, data: bytes, seconds: float, media_type: str) -> Response:
    """A complete audio file with flashtts's usual headers."""
    return Response(data, media_type=media_type, headers={
        "X-Request-Id": plan.request_id, "X-Audio-Duration": f"{seconds:.4f}",
        "Content-Disposition": f'inline; filename="speech.{plan.response_format}"'})


async def complete_one(service: SpeechService, request: Request, plan: Plan) -> tuple[bytes, float]:
    return (await complete_many(service, request, [plan]))[0]


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 4)
