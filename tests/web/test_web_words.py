"""The Speak tab highlights words in time with playback where the engine reports word timings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flashtts_engines.piper.alignment import text_words

from browser_helpers import serve, speak, wait_loaded
from support import HARVARD, LiveServer

pytestmark = pytest.mark.browser

WORDS = "#speak-result [data-part=words]"
AUDIO = "#speak-result audio[data-part=audio]"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(tmp_path_factory.mktemp("web-words"))


def test_words_light_up_in_time_with_playback(new_page, server):
    page = new_page(server.url)
    wait_loaded(page)
    assert page.is_visible("#speak-words-row")  # Piper lists the timestamps capability
    page.check("#speak-words")
    sent = []
    page.on("request", lambda r: r.url.endswith("/v1/audio/speech/captioned") and sent.append(json.loads(r.post_data)))
    text = HARVARD[1]
    speak(page, text)
    assert len(sent) == 1 and sent[0]["input"] == text

    words = page.eval_on_selector_all(f"{WORDS} span",
                                      "els => els.map(e => [e.textContent, +e.dataset.start, +e.dataset.end])")
    assert [w for w, _, _ in words] == [w for _, w in text_words(text)]
    # playback moves the highlight along the words
    page.wait_for_function(f"+document.querySelector('{WORDS}').dataset.current >= 3")
    # seeking into a word lights exactly that word
    for index in (5, 1):
        _, start, end = words[index]
        page.eval_on_selector(AUDIO, "(a, t) => { a.pause(); a.currentTime = t; }", (start + end) / 2)
        page.wait_for_function(f"document.querySelector('{WORDS}').dataset.current === '{index}'")
        current = page.eval_on_selector_all(f"{WORDS} span.current", "els => els.map(e => e.textContent)")
        assert current == [words[index][0]]
