"""The GPU run's imports against what the GPU machine will have (no network, no GPU: a static scan).

Every third-party module imported on the run's path (``benchmarks/gpu/manifest.py``: the modules its
commands import, followed through first-party imports) must be on the GPU image's list
(``benchmarks/gpu/image.txt``) or carried (``benchmarks/gpu/wheels.txt``); modules listed as off the
run's path may only be imported inside functions. A new import cannot break the GPU run unnoticed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "gpu"))
import manifest  # noqa: E402


@pytest.fixture(scope="module")
def found() -> manifest.Found:
    return manifest.scan()


def test_every_import_on_the_run_path_is_on_the_image_or_carried(found):
    image, wheels = manifest.read_list(manifest.IMAGE), manifest.read_list(manifest.WHEELS)
    assert manifest.problems(found, image, wheels) == []
    # the scan reaches what the run really runs: the server, the engine's static step, the bench, the checkpoint
    assert {"flashtts.http.app", "flashtts_engines.qwen3.static_step", "flashtts_engines.qwen3.frame",
            "flashtts.cli.bench.client", "flashtts_engines.qwen3.checkpoint", "flashtts.audio"} <= found.modules
    assert {"fastapi", "torch", "httpx", "typer"} <= set(found.eager)
    assert {"qwen_tts", "transformers", "uvicorn", "faster_qwen3_tts"} <= set(found.lazy)


def test_pyav_stays_off_the_servers_import_path(found):
    assert "av" not in found.eager, found.eager.get("av")
    assert "av" in found.lazy  # still used, inside functions, for compressed formats and uploads


def test_the_scan_catches_a_module_level_import_of_what_is_not_there(tmp_path, monkeypatch):
    pkg = tmp_path / "flashtts"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import av\nfrom . import b\n\ndef f():\n    import gradio\n")
    (pkg / "b.py").write_text("import sys\nif sys.version_info < (3, 11):\n    import exceptiongroup\n"
                              "try:\n    import nope_optional\nexcept ImportError:\n    pass\nimport fastapi\n")
    monkeypatch.setattr(manifest, "FIRST_PARTY", {"flashtts": pkg})
    found = manifest.scan(("flashtts.a",))
    assert set(found.eager) == {"av", "fastapi"} and set(found.lazy) == {"gradio", "nope_optional"}
    issues = manifest.problems(found, {"fastapi": None}, {})
    assert len(issues) == 3 and issues[0].startswith("av: imported at module level")
    assert any(i.startswith("gradio:") for i in issues) and any(i.startswith("nope_optional:") for i in issues)


def test_the_lists_pin_one_version_of_each_carried_wheel():
    wheels = manifest.read_list(manifest.WHEELS)
    assert wheels and all(v for v in wheels.values()), wheels
    image = manifest.read_list(manifest.IMAGE)
    assert image["torch"] == "2.11.0" and image["transformers"] == "5.17.0"
    assert not set(wheels) & set(image), "carried wheels shadow the image's own packages"
