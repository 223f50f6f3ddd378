"""A test-only engine: the real Piper engine, failing on the model thread for marked sentences.

Any sentence containing ``KABOOM`` raises inside the batch that runs it (on the model thread),
so only the request that sent it is touched; everything else is plain Piper.
"""

from __future__ import annotations

from flashtts_engines.piper.engine import PiperEngine, _Sentence

MARKER = "KABOOM"


class InjectedFault(RuntimeError):
    pass


class FaultyPiperEngine(PiperEngine):
    name = "faulty"
    description = "Piper with injected faults (tests only)"

    def __init__(self, config, metrics) -> None:
        super().__init__(config, metrics)
        self._poison: set[tuple[int, ...]] = set()
        self.faults = 0

    def _phonemize(self, voice: str, text: str, *args, **kwargs):
        prepared = super()._phonemize(voice, text, *args, **kwargs)
        if MARKER in text:
            self._poison.update(prepared.ids)
        return prepared

    def _synth_one(self, item: _Sentence):
        if item.phoneme_ids in self._poison:
            self.faults += 1
            raise InjectedFault("injected engine fault")
        return super()._synth_one(item)

    def stats(self) -> dict:
        return {**super().stats(), "injected_faults": self.faults}
