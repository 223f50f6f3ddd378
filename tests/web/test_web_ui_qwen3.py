"""The page's capability-driven parts on Qwen3-TTS engines (tiny random-weight checkpoints built by
the project): the instructions field on a VoiceDesign model, and a clone preview that plays and a
cloned role that speaks on a Base model. Needs the ``qwen`` extra (torch); the model makes noise,
so the audio is checked by its decoded length, not by speech recognition."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import need

need("torch", "the Qwen3 web tests need the qwen extra: pip install -e '.[dev,qwen]'")

from browser_helpers import (  # noqa: E402
    panel_data,
    serve,
    speak,
    voice_ids,
)
from support import LiveServer  # noqa: E402

pytestmark = pytest.mark.browser

REFERENCE_TEXT = "The birch canoe slid on the smooth planks, and we watched it go."
FRAMES = "24"  # random weights never stop by themselves: 24 frames = 1.92 s per segment


@pytest.fixture(scope="module")
def checkpoints(qwen3_checkpoints) -> dict[str, Path]:
    """The session's tiny checkpoints (tests/conftest.py)."""
    return qwen3_checkpoints


def qwen3_server(tmp: Path, checkpoint: Path) -> Iterator[LiveServer]:
    yield from serve(tmp, "--engine", "qwen3", "--model_path", str(checkpoint), "--engine_opt",
                     f"fixed_frames={FRAMES}")


@pytest.fixture(scope="module")
def design_server(tmp_path_factory, checkpoints) -> Iterator[LiveServer]:
    yield from qwen3_server(tmp_path_factory.mktemp("web-design"), checkpoints["voice_design"])


@pytest.fixture(scope="module")
def base_server(tmp_path_factory, checkpoints) -> Iterator[LiveServer]:
    yield from qwen3_server(tmp_path_factory.mktemp("web-base"), checkpoints["base"])


def test_voice_design_engine_shows_instructions_and_sends_them(new_page, design_server):
    page = new_page(design_server.url)
    page.wait_for_selector("#speak-voice option[value='narrator']", state="attached")
    assert page.is_visible("#speak-instructions-row")
    page.fill("#speak-instructions", "A deep, calm voice with a slight smile.")
    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech") and sent.append(json.loads(r.post_data)))
    data = speak(page, "Hello there.")
    assert sent[-1]["instructions"] == "A deep, calm voice with a slight smile."
    assert float(data["decodedSeconds"]) > 1.0
    assert "instructions=" in page.eval_on_selector(
        "#speak-result .result-panel", "el => (el.querySelector('[data-snippet=python]').click(), "
        "el.querySelector('[data-part=snippet]').textContent)")


def test_base_engine_clone_preview_plays_and_the_saved_role_speaks(new_page, base_server, tmp_path):
    # the reference clip: speech from the Piper voice, made with the project's own CLI
    clip = tmp_path / "clip.wav"
    subprocess.run([sys.executable, "-m", "flashtts", "synth", REFERENCE_TEXT, "-o", str(clip)], check=True,
                   capture_output=True, timeout=120)
    page = new_page(base_server.url)
    page.wait_for_selector("#speak-voice option[value='narrator']", state="attached")
    page.click("#tab-clone")
    assert page.is_hidden("#clone-capability")  # this engine can clone
    page.set_input_files("#clone-file", str(clip))
    page.fill("#clone-ref-text", REFERENCE_TEXT)
    page.click("#clone-preview")
    page.wait_for_function("(() => { const a = document.getElementById('clone-preview-audio');"
                           " return !a.hidden && a.duration > 1; })()")
    assert page.is_hidden("#clone-preview-error")

    page.fill("#clone-name", "qclone")
    page.click("#clone-save")
    page.wait_for_selector("#clone-message.ok")
    assert "qclone" in voice_ids(base_server.url)
    page.click("#tab-speak")
    page.select_option("#speak-voice", "qclone")
    data = speak(page, "Hello from a cloned voice.")
    assert float(panel_data(page, "#speak-result")["decodedSeconds"]) > 1.0
    assert data["state"] == "done"
