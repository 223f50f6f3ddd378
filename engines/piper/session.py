"""Piper voices on an ONNX Runtime session whose threading the engine chooses.

``PiperVoice.load`` always makes a default session: as many intra-op threads as physical cores,
spinning while they wait for work. The engine runs several sentences at once instead (one per
model thread), so it opens the session itself: ``threads`` intra-op threads per sentence, and
no spinning (a spinning thread burns a core another sentence, or another process, could use).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def session_options(threads: int):
    """ONNX Runtime options: ``threads`` intra-op threads (0: ONNX Runtime's default), no spinning."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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


def load_voice(path: Path, aligned: bool, threads: int):
    """A ``PiperVoice`` for ``path`` (its config next to it as ``<model>.json``) on CPU."""
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(_model_bytes(path, aligned), sess_options=session_options(threads),
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)
