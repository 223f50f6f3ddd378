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
