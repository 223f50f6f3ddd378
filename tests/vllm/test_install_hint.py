"""Without vLLM, asking for the vLLM backend fails at once with the install command (vLLM is made
unimportable, so these run whether or not it is installed)."""

from __future__ import annotations

import pytest

from flashtts_engines.qwen3.vllm import INSTALL_HINT, VLLMUnavailable, create_talker, vllm_available


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


def test_serve_backend_vllm_without_vllm_fails_at_start_with_the_install_command(tmp_path):
    """Runs everywhere, CI included: the server process starts with vLLM made unimportable."""
    import subprocess
    import sys

    from support import ROOT, free_port

    without_vllm = "import sys; sys.modules['vllm'] = None; from flashtts.cli.main import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", without_vllm, "serve", "--engine", "qwen3", "--backend", "vllm", "--model_path",
         str(tmp_path), "--port", str(free_port()), "--role_dir", str(tmp_path / "roles")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "pip install 'flashtts[vllm]'" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
