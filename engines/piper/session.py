"""Piper voices on ONNX Runtime sessions whose threading the engine chooses, sharing one copy of the weights.

``PiperVoice.load`` always makes one default session: as many intra-op threads as physical cores,
spinning while they wait for work. The engine runs several sentences at once instead (one per
model thread), so a voice has up to two sessions: one for a sentence that has the CPU to itself
(``threads`` intra-op threads, by default one per core) and a one-thread session for sentences
that run beside others (their threads already fill the cores), opened when first needed. Neither
spins unless asked (``spin``): a spinning thread burns a core another sentence, or another process,
could use. Measured here, a lone sentence took 139 ms with spinning against 154 ms without on a
quiet machine, but under heavy load from other processes one at a time ran 5.5 audio-s/s spinning
against 8.0 not.

Memory: the model is prepared once (:mod:`.prepare`: patched for alignments, weights in a file of
their own), the weights file is mapped read-only once, and its arrays are handed to every session
of the voice as shared initializers (``SessionOptions.add_initializer``), so a voice costs one copy
of its weights whatever the number of sessions; the pages are the file's, which the kernel can drop
and read again under memory pressure. Prepacking is off: ONNX Runtime would keep a transposed copy of
the upsampling layers' weights per session (2.7 MB; measured no faster). A session then costs ~12 MB
of its own (its graph, kernels and plans).

Activations: every Piper session of the process allocates from one CPU arena (an environment allocator),
which keeps the buffers of the sentences that ran at once (a 4 s sentence peaks at ~170 MB; 8 sentences
of 8 clients grew it by ~400 MB) for the next sentences to reuse, whichever voice speaks them: without
an arena every sentence faults its buffers in afresh, measured 12-21% more CPU per sentence, and with
an arena per session each loaded voice would keep its own. :meth:`VoiceModel.shrink`, called once the
engine has been idle a while, hands the arena's free memory back.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .prepare import PreparedModel, prepared

log = logging.getLogger(__name__)


def can_prepare() -> bool:
    """Preparing a model (alignment patch, weights file) needs the ``onnx`` package."""
    return importlib.util.find_spec("onnx") is not None


_arena_lock = threading.Lock()
_arena_registered = False


def _shared_arena() -> None:
    """Register the process's CPU arena that Piper sessions share (once); its regions, once freed by a
    shrink, go back to the system rather than into the C heap (``map_large_blocks``)."""
    global _arena_registered
    import onnxruntime

    from flashtts.memory import map_large_blocks

    with _arena_lock:
        if _arena_registered:
            return
        map_large_blocks()
        cpu = onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                        onnxruntime.OrtMemType.DEFAULT)
        try:
            onnxruntime.create_and_register_allocator(cpu, onnxruntime.OrtArenaCfg(0, -1, -1, -1))
        except Exception as exc:  # another part of the process registered one first: share that
            log.debug("CPU arena already registered: %s", exc)
        _arena_registered = True


def session_options(threads: int, spin: bool = False):
    """ONNX Runtime options: ``threads`` intra-op threads (0: ONNX Runtime's default), spinning or not;
    the process's shared CPU arena; no prepacked weight copies."""
    import onnxruntime

    _shared_arena()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.add_session_config_entry("session.disable_prepacking", "1")
    return options


class VoiceModel:
    """One Piper voice: its config, its weights mapped once, a session for a sentence alone and (when
    first needed) a one-thread session for sentences beside others."""

    def __init__(self, path: Path, aligned: bool, threads: int, spin: bool = False,
                 config_path: Path | None = None) -> None:
        from piper import PiperConfig

        self.path = path
        config = config_path or Path(f"{path}.json")
        self.config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        self._threads = threads
        self._lock = threading.Lock()
        self._model: PreparedModel | None = None
        self._initializers: dict[str, Any] = {}
        self.bytes = path.stat().st_size
        """Bytes of the weights: what one more loaded voice costs beyond its graph."""
        if can_prepare():
            self._model = prepared(path, aligned)
            weights = np.memmap(self._model.weights, dtype=np.uint8, mode="r") if self._model.weights.stat().st_size \
                else np.zeros(0, np.uint8)
            self._initializers = _initializers(weights, self._model.index)
            self.bytes = int(weights.nbytes)
        self.alone = self._voice(threads, spin)
        self._shared = self.alone if threads == 1 else None

    @property
    def timestamps(self) -> bool:
        """The session reports each phoneme id's sample count (the alignment output)."""
        return len(self.alone.session.get_outputs()) > 1

    def shared(self) -> Any:
        """The one-thread voice for sentences that run beside others (opened on first use)."""
        if self._shared is None:
            with self._lock:
                if self._shared is None:
                    self._shared = self._voice(1, False)
        return self._shared

    def shrink(self) -> None:
        """Free what the shared arena holds beyond the sentences running now: ONNX Runtime shrinks an arena
        only at the end of a run that asks, so the voice runs a three-id input asking (any voice will do)."""
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        ids = [i for symbol in ("^", "_", "$") for i in self.config.phoneme_id_map.get(symbol, [0])]
        feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32)}
        session = self.alone.session
        if "sid" in {i.name for i in session.get_inputs()}:
            feeds["sid"] = np.array([0], dtype=np.int64)
        session.run(None, feeds, options)

    def _voice(self, threads: int, spin: bool) -> Any:
        import onnxruntime
        from piper import PiperVoice

        options = session_options(threads, spin)
        for name, value in self._initializers.items():
            options.add_initializer(name, value)
        source = str(self._model.graph if self._model is not None else self.path)
        session = onnxruntime.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        session._flashtts_weights = self._initializers  # the buffers live as long as any session using them
        return PiperVoice(session=session, config=self.config)


def _initializers(weights: np.ndarray, index: dict[str, list]) -> dict[str, Any]:
    """An ``OrtValue`` over the mapped bytes of each initializer (no copy)."""
    import onnxruntime

    out = {}
    for name, (offset, shape, dtype) in index.items():
        count = int(np.prod(shape)) if shape else 1
        array = np.frombuffer(weights, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)
        out[name] = onnxruntime.OrtValue.ortvalue_from_numpy(array)
    return out
