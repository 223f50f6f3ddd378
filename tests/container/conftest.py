"""Acceptance of the container image: containers of it run with podman (or docker), driven from the host.

``make test-image`` builds the image and runs these tests with ``FLASHTTS_TEST_IMAGE`` (the image),
``FLASHTTS_TEST_CONTAINER`` (the command with its global flags) and ``FLASHTTS_TEST_RUN_FLAGS`` (flags
for every ``run``). Without ``FLASHTTS_TEST_IMAGE`` (``make test``) this folder is not collected.
"""

from __future__ import annotations

from containers import FIGURES, IMAGE

if not IMAGE:
    collect_ignore_glob = ["test_*.py"]


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("container image figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
