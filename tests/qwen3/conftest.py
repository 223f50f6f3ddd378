"""Session fixtures of the Qwen3-TTS engine tests: tiny random-weight checkpoints of every kind (built
once per session into a temp dir by the project's own builder) and the reference package's models
loaded from them with its own ``from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402
from .qwen3_helpers import KINDS  # noqa: E402

from engines.qwen3._compat import import_qwen_tts  # noqa: E402
from engines.qwen3.checkpoint import make_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen3-ckpt")
    return {kind: make_checkpoint(kind, "tiny", root / kind, seed=1234) for kind in KINDS}


@pytest.fixture(scope="session")
def reference_models(checkpoints) -> dict[str, Any]:
    """The reference package's own wrapper, loaded with its own ``from_pretrained``."""
    qwen_tts = import_qwen_tts()
    torch.set_num_threads(1)
    return {k: qwen_tts.Qwen3TTSModel.from_pretrained(str(p)) for k, p in checkpoints.items()}


