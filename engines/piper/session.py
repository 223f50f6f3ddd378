"""Piper voices on ONNX Runtime sessions whose threading the engine chooses.

``PiperVoice.load`` always makes one default session: as many intra-op threads as physical cores,
spinning while they wait for work. The engine runs several sentences at once instead (one per
model thread), so it opens each voice twice: a session for a sentence that has the CPU to itself
(``threads`` intra-op threads, by default one per core) and a one-thread session for sentences
that run beside others (their threads already fill the cores). Neither spins unless asked
(``spin``): a spinning thread burns a core another sentence, or another process, could use.
Measured here, a lone sentence took 139 ms with spinning against 154 ms without on a quiet
machine, but under heavy load from other processes one at a time ran 5.5 audio-s/s spinning
against 8.0 not.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def session_options(threads: int, spin: bool = False):
    """ONNX Runtime options: ``threads`` intra-op threads (0: ONNX Runtime's default), spinning or not."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _model_bytes(path: Path, aligned: bool) -> str | bytes:
    """The model file, or with ``aligned`` the model patched in memory to also output each phoneme
    id's sample count (what piper-tts does for ``include_alignments``)."""
    if not aligned:
        return str(path)
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(path))
    try:
        add_alignment_output(model)
    except ValueError as error:  # already patched, or no such tensor: use it as it is
        log.debug("not patching %s for alignments: %s", path.name, error)
        return str(path)
    return model.SerializeToString()


def load_voice(path: Path, aligned: bool, threads: int, spin: bool = False) -> tuple[Any, Any]:
    """``(alone, shared)``: ``PiperVoice``s for ``path`` (its config next to it as ``<model>.json``) on
    CPU, on a session with ``threads`` intra-op threads (spinning with ``spin``) and on a one-thread
    session (the same object when ``threads`` is 1)."""
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
    model = _model_bytes(path, aligned)

    def voice(count: int, spinning: bool) -> Any:
        session = onnxruntime.InferenceSession(model, sess_options=session_options(count, spinning),
                                               providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=config)

    alone = voice(threads, spin)
    return alone, alone if threads == 1 else voice(1, False)
