"""One sentence cutter for every path: HTTP and the WebSocket cut the same text into the same engine segments."""

from __future__ import annotations

import pytest

from flashtts.config.settings import ServerConfig
from flashtts.text.normalize import normalize

from fakes import FakeEngine
from support import AppWebSocket, app_client

# Each sentence fits the window (80) and no two neighbours fit it together, so HTTP's packing joins none:
# the segments are the cutter's sentences on both paths. Abbreviations, initials and ';' end nothing;
# a CJK full stop ends a sentence with no space after it.
SENTENCES = [
    "Dr. Smith met J. R. R. Tolkien at St. Mary's; they talked for hours.",
    "Was it the best evening of their lives, e.g. a night to remember?",
    "今天天气很好，我们一起去公园散步吧，然后在湖边的长椅上坐一会儿，看看天上的白云和水里的小鱼。",
    "你觉得这个主意怎么样呢，如果明天下雨的话我们就待在家里看书喝茶，听听音乐，好不好？",
    "\"Mrs. Brown and Mr. Green left at noon; no one saw them again.\"",
    "Nobody spoke after that, and the rain began to fall on the empty street…",
]
TEXT = " ".join(SENTENCES).replace("。 ", "。")  # no space after a full stop in Chinese


@pytest.fixture
def config(tmp_path) -> ServerConfig:
    return ServerConfig(role_dir=tmp_path / "roles", length_threshold=1, window_size=80)


async def test_http_and_websocket_cut_the_same_segments(config):
    assert all(len(s) <= 80 for s in SENTENCES)
    assert all(len(a) + len(b) >= 80 for a, b in zip(SENTENCES, SENTENCES[1:], strict=False))
    spoken = [normalize(s, "en") for s in SENTENCES]  # what the engine is given ("e.g." read out)

    http_engine = FakeEngine(chunks=1, chunk_seconds=0.01)
    async with app_client(config, http_engine) as client:
        r = await client.post("/v1/audio/speech", json={"input": TEXT, "voice": "tone", "language": "en",
                                                        "response_format": "pcm", "stream": False})
        assert r.status_code == 200, r.text
    assert [q.text for q in http_engine.requests] == spoken

    ws_engine = FakeEngine(chunks=1, chunk_seconds=0.01)
    async with app_client(config, ws_engine) as client, \
            AppWebSocket(client.app, "/v1/audio/speech/stream") as ws:
        await ws.send_json({"type": "start", "voice": "tone", "language": "en", "response_format": "pcm"})
        for i in range(0, len(TEXT), 7):  # in pieces, as an LLM writes
            await ws.send_json({"type": "text", "text": TEXT[i:i + 7]})
        await ws.send_json({"type": "end"})
        messages = await ws.messages()
    segments = [m["text"] for m in messages if isinstance(m, dict) and m["type"] == "segment"]
    assert segments == SENTENCES
    assert messages[-1] == {"type": "done", "segments": len(SENTENCES), "characters": len(TEXT),
                            "audio_seconds": pytest.approx(0.01 * len(SENTENCES), abs=0.002)}
    assert [q.text for q in ws_engine.requests] == [q.text for q in http_engine.requests]
