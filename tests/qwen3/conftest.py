"""Session fixtures of the Qwen3-TTS engine tests: tiny random-weight checkpoints of every kind (built
once per session into a temp dir by the project's own builder) and the reference package's models
loaded from them with its own ``from_pretrained``."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from flashtts_engines.qwen3._compat import import_qwen_tts

# Without the `qwen` extra only the model-free tests run; in CI (CI=true) a missing extra fails
# loudly instead of skipping.
HAVE_QWEN = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "qwen_tts"))
if not HAVE_QWEN and os.environ.get("CI") != "true":
    collect_ignore = ["test_parity.py", "test_engine.py", "test_http.py", "test_checkpoint.py", "test_sampling.py",
                      "test_generation.py", "test_static_step.py", "test_gpu_rehearsal.py"]


@pytest.fixture(scope="session")
def checkpoints(qwen3_checkpoints) -> dict[str, Path]:
    """tests/conftest.py's tiny checkpoints of every kind (built once per session)."""
    return qwen3_checkpoints


@pytest.fixture(scope="session")
def reference_models(checkpoints) -> dict[str, Any]:
    """The reference package's own wrapper, loaded with its own ``from_pretrained``."""
    import torch

    qwen_tts = import_qwen_tts()
    torch.set_num_threads(1)
    return {k: qwen_tts.Qwen3TTSModel.from_pretrained(str(p)) for k, p in checkpoints.items()}


