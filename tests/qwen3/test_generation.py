"""The Qwen3 engine's generations: found by name, each with the whole protocol, and the engine's
package imports none of them (the vLLM part imports the engine's package, never the reverse)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from flashtts_engines.qwen3.generation import GENERATIONS, Generation, generation_class


def test_every_generation_has_the_protocols_methods():
    wanted = {n for n, _ in inspect.getmembers(Generation) if not n.startswith("_")} | {"__init__"}
    assert {"require", "start", "stop", "ready", "run", "abort", "call", "stats"} <= wanted
    for name in GENERATIONS:
        cls = generation_class(name)  # importable without vLLM: vLLM loads when it starts
        missing = {m for m in wanted if not callable(getattr(cls, m, None))}
        assert not missing, (name, missing)
        assert inspect.isasyncgenfunction(cls.run), name


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown Qwen3 backend 'tensorrt'.*torch, static, vllm"):
        generation_class("tensorrt")


def test_the_engine_package_does_not_import_its_vllm_part():
    code = ("import sys, flashtts_engines.qwen3 as q, flashtts_engines.qwen3.torch_generation; "
            "print(sorted(m for m in sys.modules if m.startswith('flashtts_engines.qwen3.vllm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
