"""Rules of the test suite itself: a skip that could hide a failure goes through ``support.unavailable`` (a
failure under ``CI=true``); the skips left are about the machine, not about a missing part."""

from __future__ import annotations

import re

from support import ROOT

TESTS = ROOT / "tests"
SKIPS = re.compile(r"importorskip\(|pytest\.skip\(|skipif\(|collect_ignore")
ALLOWED = {
    "tests/support.py": "unavailable(): the one skip, a failure in CI",
    "tests/unit/test_packaging.py": "tomllib exists from Python 3.11 on",
    "tests/compat/test_launch_options.py": "a check that needs a machine without CUDA",
    "tests/qwen3/conftest.py": "collect_ignore only when CI is not 'true'",
    "tests/test_hub.py": "skipif(... and CI != 'true')",
    "tests/vllm/conftest.py": "vllm_installed skips only where vLLM is not required; required (make test, CI) and "
                              "missing fails at start",
    "tests/unit/test_suite_rules.py": "this file",
    "tests/container/conftest.py": "collected by make test-image (CI runs it after make test), which names the image",
}


def test_no_skip_can_hide_a_failure_in_ci():
    found = {}
    for path in TESTS.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if SKIPS.search(path.read_text(encoding="utf-8")) and rel not in ALLOWED:
            found[rel] = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if SKIPS.search(line)]
    assert not found, f"skips outside support.unavailable/need (they would hide a failure in CI): {found}"
    for rel in ALLOWED:
        assert (ROOT / rel).is_file(), f"{rel} is gone: drop it from ALLOWED"


def test_make_tests_lanes_cover_the_suite_once():
    """tools/test_lanes.py: every model-lane path exists (the serving lane ignores exactly those), and only an
    argument naming tests, not an option, turns the lanes into one plain run."""
    from tools.test_lanes import MODELS, names_a_path

    assert all((ROOT / path).exists() for path in MODELS), [p for p in MODELS if not (ROOT / p).exists()]
    assert len(set(MODELS)) == len(MODELS) and not any(a != b and b.startswith(a + "/") for a in MODELS for b in MODELS)
    assert names_a_path(["tests/unit/test_text.py::test_x"]) and names_a_path(["-x", "tests/qwen3"])
    assert not names_a_path(["--durations=40", "-k", "piper and not slow", "-x"])
