"""Reference audio given as a URL: off by default, allow-listed hosts only, http(s) only, no
loopback/private addresses unless allowed explicitly, size and time limits.

The only server these tests fetch from is a tiny HTTP server the test starts on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flashtts.config.options import ServeOptions
from flashtts.config.settings import AudioURLPolicy, Limits, ServerConfig
from flashtts.serving.url_fetch import host_allowed, is_public

from fakes import FakeEngine, tone_wav
from support import app_client

CLIP = tone_wav(2.0)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):  # the server under test hung up, as it should
            pass

    def _answer(self) -> None:
        if self.path == "/clip.wav":
            self._send(CLIP)
        elif self.path == "/big.wav":
            self._send(CLIP * 20)
        elif self.path == "/big-unsized.wav":  # no Content-Length: the limit must be counted
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(CLIP)
        elif self.path == "/slow.wav":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(CLIP)))
            self.end_headers()
            for i in range(0, len(CLIP), 4096):
                self.wfile.write(CLIP[i:i + 4096])
                self.wfile.flush()
                time.sleep(0.5)
        elif self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/clip.wav")
            self.end_headers()
        elif self.path == "/hop-port":  # same host, another port (a local service)
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/clip.wav")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        else:
            self.send_error(404)

    def _send(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def clip_server() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", server.hits  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _served(config: ServerConfig):
    """The app in-process on a fake engine (fetching and checking clips is the server's part)."""
    return app_client(config, FakeEngine())


def _config(tmp_path, **policy) -> ServerConfig:
    return ServerConfig(role_dir=tmp_path / "roles", audio_urls=AudioURLPolicy(**policy),
                        limits=Limits(max_upload_bytes=len(CLIP) * 4))


async def _add(client, url: str, name: str = "from-url"):
    return await client.post("/add_speaker", data={"name": name, "voice": "tone", "audio": url})


async def test_urls_are_refused_by_default(tmp_path, clip_server):
    host, hits = clip_server
    before = len(hits)
    async with _served(ServerConfig(role_dir=tmp_path / "roles")) as client:
        resp = await _add(client, f"http://{host}/clip.wav")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "url_not_allowed"
        speech = await client.post("/v1/audio/speech", json={"input": "Hi.", "voice": f"http://{host}/clip.wav"})
        assert speech.status_code == 400 and speech.json()["error"]["code"] == "url_not_allowed"
    assert len(hits) == before  # nothing was fetched


async def test_loopback_needs_explicit_permission_even_when_listed(tmp_path, clip_server):
    host, hits = clip_server
    before = len(hits)
    port = host.split(":")[1]
    async with _served(_config(tmp_path, enabled=True, hosts=(host, f"localhost:{port}"))) as client:
        for url in (f"http://{host}/clip.wav", f"http://localhost:{host.split(':')[1]}/clip.wav"):
            resp = await _add(client, url)
            assert resp.status_code == 400, resp.text
            assert resp.json()["error"]["code"] == "url_not_allowed"
            message = resp.json()["error"]["message"]
            assert "loopback or private" in message
            if url.startswith("http://localhost"):
                assert "127.0.0.1" not in message  # the resolved address is not revealed
    assert len(hits) == before


async def test_allowed_url_is_fetched_and_stored(tmp_path, clip_server):
    host, hits = clip_server
    async with _served(_config(tmp_path, enabled=True, hosts=(host,), allow_private=True)) as client:
        resp = await _add(client, f"http://{host}/clip.wav")
        assert resp.status_code == 200, resp.text
        ref = await client.get("/v1/audio/voices/from-url/reference")
        assert ref.status_code == 200 and ref.content[:4] == b"RIFF"
        # one checked redirect is followed
        hop = await _add(client, f"http://{host}/hop", name="via-redirect")
        assert hop.status_code == 200, hop.text
    assert "/clip.wav" in hits and "/hop" in hits


@pytest.mark.parametrize("url_path, status, code", [
    ("/big.wav", 413, "file_too_large"),
    ("/big-unsized.wav", 413, "file_too_large"),
    ("/missing.wav", 400, "url_fetch_failed"),
    ("/loop", 400, "url_fetch_failed"),
])
async def test_url_size_status_and_redirect_limits(tmp_path, clip_server, url_path, status, code):
    host, _ = clip_server
    async with _served(_config(tmp_path, enabled=True, hosts=(host,), allow_private=True)) as client:
        resp = await _add(client, f"http://{host}{url_path}")
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code


async def test_url_time_limit(tmp_path, clip_server):
    host, _ = clip_server
    config = _config(tmp_path, enabled=True, hosts=(host,), allow_private=True, timeout=1.0)
    async with _served(config) as client:
        resp = await _add(client, f"http://{host}/slow.wav")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "url_timeout"
        # the server still answers at once while and after a download hangs
        assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize("url", [
    "http://not-listed.invalid/clip.wav",
    "ftp://127.0.0.1/clip.wav",
    "file:///etc/passwd",
    "http://user:pw@127.0.0.1/clip.wav",
])
async def test_hosts_schemes_and_userinfo_are_checked_before_any_connection(tmp_path, url):
    async with _served(_config(tmp_path, enabled=True, hosts=("127.0.0.1",), allow_private=True)) as client:
        resp = await _add(client, url)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == "audio"


def test_policy_helpers():
    import ipaddress

    assert host_allowed("cdn.example.com", ("*.example.com",))
    assert not host_allowed("example.com", ("*.example.com",))
    assert not host_allowed("evil-example.com", ("*.example.com",))
    assert host_allowed("Example.COM.", ("example.com",))
    assert not host_allowed("example.com", ())
    # ports: an entry without one allows the scheme's default port only
    assert host_allowed("example.com", ("example.com",), 443, 443)
    assert not host_allowed("example.com", ("example.com",), 8800, 443)
    assert host_allowed("example.com", ("example.com:8800",), 8800, 443)
    assert not host_allowed("example.com", ("example.com:8800",), 443, 443)
    for private in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1",
                    "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1"):
        assert not is_public(ipaddress.ip_address(private)), private
    assert is_public(ipaddress.ip_address("93.184.216.34"))


async def test_allow_listed_host_on_another_port_is_refused(tmp_path, clip_server):
    host, hits = clip_server
    before = len(hits)
    async with _served(_config(tmp_path, enabled=True, hosts=("127.0.0.1",), allow_private=True)) as client:
        resp = await _add(client, f"http://{host}/clip.wav")  # listed without a port: only port 80
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "url_not_allowed", resp.text
        # a redirect from an allowed URL to another port on the same host is checked too
    async with _served(_config(tmp_path, enabled=True, hosts=(host,), allow_private=True)) as client:
        resp = await _add(client, f"http://{host}/hop-port", name="hop-port")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "url_not_allowed", resp.text
    assert len(hits) == before + 1  # only the redirecting URL was fetched



async def test_serve_options_enable_urls(tmp_path, clip_server):
    """``--allow_audio_urls --audio_url_hosts H --audio_url_allow_private --audio_url_timeout 5`` as the CLI
    passes them (ServeOptions; every field is its own flag and variable: tests/unit/test_serve_options.py)."""
    host, hits = clip_server
    options = ServeOptions(allow_audio_urls=True, audio_url_hosts=[host], audio_url_allow_private=True,
                           audio_url_timeout=5, role_dir=tmp_path / "roles")
    async with _served(options.server_config()) as client:
        resp = await _add(client, f"http://{host}/clip.wav", "live-url")
        assert resp.status_code == 200, resp.text
        assert (await client.get("/v1/audio/voices/live-url/reference")).content[:4] == b"RIFF"
        # a host not on the list is refused even though private addresses are allowed
        other = await _add(client, f"http://localhost:{host.split(':')[1]}/clip.wav", "other")
        assert other.status_code == 400 and "allow-list" in other.json()["error"]["message"]
