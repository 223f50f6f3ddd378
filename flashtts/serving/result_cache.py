"""The result cache: complete answers kept by what determines them (``--result_cache_mb``), built once at
start-up and used by the complete-file answers that ask for it (:meth:`Lifecycle.files`)."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict

from flashtts.serving.plans import Plan


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
