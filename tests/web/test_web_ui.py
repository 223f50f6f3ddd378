"""The browser page at ``/``, driven in Debian Chromium by Playwright against real servers on loopback.

Audio is checked by what the page decoded (``audio.duration``, the decoded sample count it reports)
and by speech recognition on the bytes the page offers for download, not by listening.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flashtts.audio import decode

from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    check_played,
    download_bytes,
    make_clip,
    panel_data,
    serve,
    speak,
    stats,
    voice_ids,
    wait_idle,
    wait_loaded,
)
from support import HARVARD, LiveServer, wer

pytestmark = pytest.mark.browser

KEY = "web-test-key-1234"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(tmp_path_factory.mktemp("web-auth"), "--api_key", KEY)


def clone_save_and_delete(page, url: str, clip: Path, name: str, headers: dict | None = None) -> None:
    page.click("#tab-clone")
    page.set_input_files("#clone-file", str(clip))
    page.wait_for_selector("#clone-clip-box:not([hidden])")
    page.fill("#clone-ref-text", "The birch canoe slid on the smooth planks, and we watched it go.")

    # the Piper engine cannot clone: the preview shows the server's own message
    page.click("#clone-preview")
    err = page.wait_for_selector("#clone-preview-error:not([hidden])")
    assert "cannot clone" in err.inner_text(), err.inner_text()
    assert "HTTP 400" in err.inner_text()
    assert page.is_visible("#clone-capability")

    page.fill("#clone-name", name)
    page.click("#clone-save")
    msg = page.wait_for_selector("#clone-message.ok")
    assert name in msg.inner_text()
    assert name in voice_ids(url, headers)

    # in the voice picker, the dialogue chips and the Roles tab, with its reference clip
    page.wait_for_selector(f"#speak-voice option[value='{name}']", state="attached")
    page.wait_for_selector(f"#dlg-chips .chip[data-voice='{name}']", state="attached")
    page.click("#tab-roles")
    item = page.wait_for_selector(f"#roles-list li[data-role='{name}']")
    assert "reference clip" in item.inner_text()
    item.query_selector("button[data-action=play]").click()
    page.wait_for_selector("#voice-preview-audio[data-ready='1']", state="attached")
    seconds = page.eval_on_selector("#voice-preview-audio", "a => a.duration")
    assert 2.0 < seconds < 10.0, seconds  # the stored reference clip, not an empty file

    # delete asks first: Cancel keeps the role, Delete removes it everywhere
    item.query_selector("button[data-action=delete]").click()
    page.wait_for_selector("#confirm-dialog[open]")
    assert name in page.inner_text("#confirm-text")
    page.click("#confirm-cancel")
    assert page.is_visible(f"#roles-list li[data-role='{name}']")
    assert name in voice_ids(url, headers)
    item.query_selector("button[data-action=delete]").click()
    page.click("#confirm-ok")
    page.wait_for_selector(f"#roles-list li[data-role='{name}']", state="detached")
    page.wait_for_selector(f"#speak-voice option[value='{name}']", state="detached")
    assert name not in voice_ids(url, headers)


# ---- tests ------------------------------------------------------------------------------------

def test_speak_streams_plays_and_shows_first_audio(new_page, server, transcribe):
    page = new_page(server.url)
    wait_loaded(page)
    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech") and sent.append(r.post_data))
    text = " ".join(HARVARD[:3])
    data = speak(page, text)

    assert data["mode"] == "mse"  # Chromium has MediaSource: mp3 chunks appended as they come
    assert int(data["ttfaMs"]) > 0
    assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", page.inner_text("#speak-result [data-part=ttfa]"))
    # playback began with the first chunk while more of the stream was still to come
    assert int(data["firstAudioChunk"]) == 1 and int(data["chunks"]) > 1, data
    assert float(data["decodedSeconds"]) > 2.0
    check_played(page, "#speak-result")

    # the page's download is the spoken text
    audio = download_bytes(page, "#speak-result")
    assert wer(text, transcribe(decode(audio, 16000))) < 0.35

    # the curl snippet repeats the exact body the page sent
    assert len(sent) == 1
    snippet = page.inner_text("#speak-result [data-part=snippet]")
    body = shlex.split(snippet.replace("\\\n", " "))
    assert json.loads(body[body.index("-d") + 1]) == json.loads(sent[0])
    assert json.loads(sent[0])["input"] == text
    page.click("#speak-result [data-snippet=python]")
    py = page.inner_text("#speak-result [data-part=snippet]")
    assert "client.audio.speech.with_streaming_response.create(" in py and f"{server.url}/v1" in py
    compile(py, "snippet.py", "exec")  # valid Python


def test_speak_options_and_voice_preview(new_page, server):
    page = new_page(server.url)
    wait_loaded(page)
    # Piper has no instructions: the field stays hidden; its languages fill the picker
    assert not page.is_visible("#speak-instructions-row")
    assert "en" in page.eval_on_selector("#speak-language", "s => [...s.options].map(o => o.value)")
    page.fill("#speak-text", "abc")
    assert page.inner_text("#speak-count").startswith("3 /")

    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech") and sent.append(json.loads(r.post_data)))
    page.click("#speak-preview")  # built-in voice: a short synthesis
    page.wait_for_selector("#voice-preview-audio[data-ready='1']", state="attached")
    assert page.eval_on_selector("#voice-preview-audio", "a => a.duration") > 0.3
    assert sent[-1]["voice"] == "joe"

    page.eval_on_selector("#speak-speed", "el => { el.value = '1.5'; el.dispatchEvent(new Event('input')); }")
    page.select_option("#speak-language", "en")
    page.select_option("#speak-format", "wav")
    data = speak(page, "The box was thrown beside the parked truck.")
    assert sent[-1] == {"model": "piper", "voice": "joe", "input": "The box was thrown beside the parked truck.",
                        "response_format": "wav", "speed": 1.5, "language": "en"}
    assert data["mode"] == "pcm" and float(data["webAudioSeconds"]) > 0.5
    assert float(data["decodedSeconds"]) > 0.5
    assert page.eval_on_selector("#speak-result [data-part=download]", "a => a.download") == "speech.wav"

    # a server error is shown with the server's message
    page.select_option("#speak-voice", "joe")
    page.eval_on_selector("#speak-voice", "s => { s.options[0].value = 'nobody'; }")
    page.click("#speak-go")
    err = page.wait_for_selector("#speak-error:not([hidden])")
    assert "unknown voice 'nobody'" in err.inner_text()


def test_pronunciation_editor_lists_adds_tries_and_deletes_a_roles_entries(new_page, server, transcribe):
    """Issue 21: a role's lexicon in the Roles tab; what is added is stored with the role and heard."""
    r = httpx.post(server.url + "/add_speaker", data={"name": "lex", "voice": "joe"}, timeout=60)
    assert r.status_code == 200, r.text
    page = new_page(server.url)
    wait_loaded(page)
    page.click("#tab-roles")
    page.click("#roles-list li[data-role='lex'] button[data-action=lexicon]")
    editor = "#roles-list li[data-role='lex'] .lexicon"
    page.wait_for_selector(f"{editor} p.muted:not([hidden])")  # no entries yet
    page.fill(f"{editor} input[name=word]", "boy")
    page.fill(f"{editor} input[name=ipa]", "/ɡˈɜːl/")
    page.click(f"{editor} button[data-action=try]")  # spoken with the unsaved entry, phonemes before/after
    page.wait_for_selector(f"{editor} audio[data-ready='1']", state="attached")
    heard = page.wait_for_selector(f"{editor} .lexicon-heard:has-text('ɡˈɜːl')").inner_text()
    assert "bˈɔɪ" in heard, heard
    assert httpx.get(server.url + "/roles/lex/lexicon", timeout=30).json()["entries"] == []  # tried, not saved
    page.click(f"{editor} button[type=submit]")
    page.wait_for_selector(f"{editor} tr[data-word='boy']")
    assert httpx.get(server.url + "/roles/lex/lexicon", timeout=30).json()["entries"] == [
        {"word": "boy", "ipa": "ɡˈɜːl"}]
    spoken = httpx.post(server.url + "/speak", timeout=120, json={
        "name": "lex", "text": HARVARD[1], "response_format": "wav"})
    words = re.findall(r"[a-z]+", transcribe(decode(spoken.content, 16000)).lower())
    assert "girl" in words and "boy" not in words, words

    page.reload()  # stored with the role: there after a reload
    wait_loaded(page)
    page.click("#tab-roles")
    page.click("#roles-list li[data-role='lex'] button[data-action=lexicon]")
    page.click(f"{editor} tr[data-word='boy'] button")
    page.wait_for_selector(f"{editor} tr[data-word='boy']", state="detached")
    assert httpx.get(server.url + "/roles/lex/lexicon", timeout=30).json()["entries"] == []


def test_streaming_falls_back_to_web_audio_without_mediasource(new_page, server):
    page = new_page(server.url, init_script="delete window.MediaSource; delete window.ManagedMediaSource;")
    wait_loaded(page)
    assert page.evaluate("typeof window.MediaSource") == "undefined"
    assert "MediaSource" in page.inner_text("#speak-format-note")
    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech") and sent.append(json.loads(r.post_data)))
    data = speak(page, " ".join(HARVARD[:2]))
    assert sent[-1]["response_format"] == "pcm"  # mp3 cannot stream here; pcm chunks go to Web Audio
    assert data["mode"] == "pcm"
    assert int(data["firstAudioChunk"]) < int(data["chunks"]), data
    assert float(data["webAudioSeconds"]) > 1.0
    assert abs(float(data["webAudioSeconds"]) - float(data["decodedSeconds"])) < 0.05
    # Web Audio played it: the page's audio clock ran past the start of the audio
    page.wait_for_function("flashtts.audioContext().state === 'running' && flashtts.audioContext().currentTime > 0.5")
    # and the result stays in the audio element (as WAV) to replay
    assert page.eval_on_selector("#speak-result audio[data-part=audio]", "a => a.duration") > 1.0
    assert page.eval_on_selector("#speak-result [data-part=download]", "a => a.download") == "speech.wav"


def test_clone_tab_saves_a_role_that_appears_everywhere_and_delete_removes_it(new_page, server, tmp_path):
    clip = make_clip(server.url, tmp_path / "clip.wav")
    page = new_page(server.url)
    wait_loaded(page)
    clone_save_and_delete(page, server.url, clip, "webclone")


def test_clone_tab_records_from_the_microphone_and_saves_the_recording(browser, new_page, server):
    """Chromium's fake capture device stands in for a microphone (a tone); the server must accept
    what MediaRecorder produced (webm/opus) as a reference clip."""
    mic_browser = browser.browser_type.launch(executable_path=str(CHROMIUM), args=[
        *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        page = new_page(server.url, on=mic_browser)
        wait_loaded(page)
        page.click("#tab-clone")
        page.click("#clone-record")
        page.wait_for_selector("#clone-record.recording")
        assert "Stop recording" in page.inner_text("#clone-record")
        page.wait_for_function("parseFloat(document.getElementById('clone-rec-time').textContent) >= 2.5")
        page.click("#clone-record")
        page.wait_for_selector("#clone-clip-box:not([hidden])")
        assert page.inner_text("#clone-clip-info").startswith("recording.")
        page.fill("#clone-name", "miclip")
        page.click("#clone-save")
        page.wait_for_selector("#clone-message.ok")
        page.click("#tab-roles")
        page.click("#roles-list li[data-role='miclip'] button[data-action=play]")
        page.wait_for_selector("#voice-preview-audio[data-ready='1']", state="attached")
        assert page.eval_on_selector("#voice-preview-audio", "a => a.duration") > 2.0  # the stored clip
        page.click("#roles-list li[data-role='miclip'] button[data-action=delete]")
        page.click("#confirm-ok")
        page.wait_for_selector("#roles-list li[data-role='miclip']", state="detached")
        page.context.close()
    finally:
        mic_browser.close()


def test_dialogue_chips_insert_tags_and_multi_speak_streams(new_page, server, transcribe):
    page = new_page(server.url)
    wait_loaded(page)
    page.click("#tab-dialogue")
    assert "<role:" in page.input_value("#dlg-text")  # an example script to start from
    page.fill("#dlg-text", "")
    page.click("#dlg-chips .chip[data-voice='announcer']")
    page.keyboard.type("Glue the sheet to the dark blue background.")
    page.click("#dlg-chips .chip[data-voice='narrator']")
    page.keyboard.type("The box was thrown beside the parked truck.")
    script = page.input_value("#dlg-text")
    assert script == ("<role:announcer> Glue the sheet to the dark blue background.\n"
                      "<role:narrator> The box was thrown beside the parked truck.")
    sent = []
    page.on("request", lambda r: r.url.endswith("/multi_speak") and sent.append(json.loads(r.post_data)))
    page.click("#dlg-go")
    page.wait_for_selector("#dlg-result .result-panel[data-state='done']")
    assert sent == [{"text": script, "response_format": "mp3", "stream": True}]
    data = panel_data(page, "#dlg-result")
    assert float(data["decodedSeconds"]) > 2.0
    check_played(page, "#dlg-result")
    heard = transcribe(decode(download_bytes(page, "#dlg-result"), 16000))
    assert wer("Glue the sheet to the dark blue background. The box was thrown beside the parked truck.", heard) < 0.35
    assert "/multi_speak" in page.inner_text("#dlg-result [data-part=snippet]")


def test_stop_aborts_the_synthesis_on_the_server(new_page, server):
    page = new_page(server.url)
    wait_loaded(page)
    before = wait_idle(server.url)["requests_aborted_total"]
    long_text = " ".join(HARVARD * 19)[:4000]  # minutes of audio: far from done when Stop is pressed
    page.fill("#speak-text", long_text)
    page.click("#speak-go")
    page.wait_for_selector("#speak-result .result-panel[data-ttfa-ms]")  # audio is playing
    assert stats(server.url)["active_requests"] == 1  # still synthesising
    page.click("#speak-stop")
    page.wait_for_selector("#speak-result .result-panel[data-state='stopped']")
    assert page.inner_text("#speak-status") == "Stopped."
    # the buttons are reset once the player has finished (web/result.js's finally), just after the panel's state
    page.wait_for_selector("#speak-stop:disabled", timeout=10_000)
    assert page.is_enabled("#speak-go")
    deadline = time.monotonic() + 30
    while stats(server.url)["requests_aborted_total"] <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = wait_idle(server.url)
    assert after["requests_aborted_total"] == before + 1, after
    # the page can speak again after a stop
    data = speak(page, "The boy was there when the sun rose.")
    assert float(data["decodedSeconds"]) > 1.0


def test_language_toggle_switches_to_chinese_and_back(new_page, server):
    page = new_page(server.url)
    wait_loaded(page)
    assert page.inner_text("#tab-speak") == "Speak"
    page.click("#lang-toggle")
    assert page.inner_text("#tab-speak") == "朗读"
    assert page.inner_text("#speak-go") == "朗读"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.reload()
    wait_loaded(page)
    assert page.inner_text("#tab-clone") == "克隆"  # kept in localStorage
    page.click("#lang-toggle")
    assert page.inner_text("#tab-clone") == "Clone"


def test_api_key_prompt_then_everything_works_with_the_key(new_page, auth_server, tmp_path):
    url = auth_server.url
    headers = {"Authorization": f"Bearer {KEY}"}
    page = new_page(url)
    banner = page.wait_for_selector("#auth-banner:not([hidden])")
    assert "requires an API key" in banner.inner_text()
    assert page.evaluate("document.activeElement.id") == "api-key"

    page.click("#speak-go")
    err = page.wait_for_selector("#speak-error:not([hidden])")
    assert "API key" in err.inner_text() and "401" in err.inner_text()

    page.fill("#api-key", "wrong-key")
    page.click("#key-save")
    page.wait_for_function("document.getElementById('auth-detail').textContent.includes('refused')")
    assert "invalid API key" in page.inner_text("#auth-detail")

    page.fill("#api-key", KEY)
    page.click("#key-save")
    wait_loaded(page)
    page.wait_for_selector("#auth-banner", state="hidden")
    data = speak(page, "It's easy to tell the depth of a well.")
    assert float(data["decodedSeconds"]) > 1.0
    check_played(page, "#speak-result")
    assert "Authorization: Bearer $FLASHTTS_API_KEY" in page.inner_text("#speak-result [data-part=snippet]")

    clip = make_clip(url, tmp_path / "clip.wav", headers)
    clone_save_and_delete(page, url, clip, "keyclone", headers)

    page.reload()  # the key stays in this browser
    wait_loaded(page)
    assert page.is_hidden("#auth-banner")
