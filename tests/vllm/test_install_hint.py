"""Without vLLM, asking for the vLLM backend fails at once with the install command."""

from __future__ import annotations

import pytest

from engines.qwen3_vllm import INSTALL_HINT, VLLMUnavailable, create_talker, vllm_available


def test_missing_vllm_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_vllm(name, *args, **kwargs):
        if name == "vllm" or name.startswith("vllm."):
            raise ImportError("No module named 'vllm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vllm)
    assert not vllm_available()
    with pytest.raises(VLLMUnavailable) as err:
        create_talker(tmp_path)
    assert "pip install 'flashtts[vllm]'" in str(err.value)
    assert INSTALL_HINT in str(err.value)
