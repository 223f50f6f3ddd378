"""Shared pieces of the browser tests: Chromium through Playwright, real servers, page helpers."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import LiveServer, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 60_000


def _require_browser() -> None:
    """Skip when Chromium or Playwright is missing on a developer machine; in CI they must be there."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -e '.[dev]')")
    if problems:
        unavailable("browser tests need Debian Chromium and Playwright: " + "; ".join(problems))


@contextlib.contextmanager
def launch(*extra_args: str) -> Iterator:
    """Debian Chromium, headless, driven by Playwright (skips or fails as _require_browser says)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with launch() as b:
        yield b


def serve(tmp: Path, *args: str) -> Iterator[LiveServer]:
    """A real ``flashtts serve`` (default Piper engine) for the whole module, with its own role dir."""
    server = LiveServer(["--role_dir", str(tmp / "roles"), *args], tmp / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def new_page(browser):
    """Factory for pages in fresh contexts (empty localStorage); uncaught page errors fail the test."""
    contexts, errors = [], []

    def make(url: str, init_script: str | None = None, on=None):
        ctx = (on or browser).new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
        if init_script:
            ctx.add_init_script(init_script)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def stats(url: str) -> dict:
    r = httpx.get(url + "/server_info", timeout=30)
    r.raise_for_status()
    return r.json()["stats"]


def wait_idle(url: str, limit: float = 60.0) -> dict:
    """The server's counters once no request is in flight."""
    deadline = time.monotonic() + limit
    while (s := stats(url))["active_requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return s


def wait_loaded(page) -> None:
    page.wait_for_selector("#speak-voice option[value='joe']", state="attached")


def panel_data(page, host: str) -> dict:
    return page.eval_on_selector(f"{host} .result-panel", "el => ({...el.dataset})")


def download_bytes(page, host: str) -> bytes:
    """The bytes behind the result's Download link (what the page received)."""
    b64 = page.eval_on_selector(f"{host} [data-part=download]", """async (a) => {
        const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
        let s = "";
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
    }""")
    return base64.b64decode(b64)


def speak(page, text: str) -> dict:
    """Type ``text``, press Speak, wait until the stream ended; the result panel's data."""
    page.click("#tab-speak")
    page.fill("#speak-text", text)
    page.click("#speak-go")
    page.wait_for_selector("#speak-result .result-panel[data-state='done']")
    return panel_data(page, "#speak-result")


def check_played(page, host: str) -> None:
    """The result's audio element has a decoded duration and its playback moved."""
    audio = f"{host} audio[data-part=audio]"
    duration = page.eval_on_selector(audio, "a => a.duration")
    assert duration and duration > 0.5 and duration != float("inf"), duration
    page.wait_for_function(f"document.querySelector('{audio}').currentTime > 0.2")


def make_clip(url: str, path: Path, headers: dict | None = None) -> Path:
    r = httpx.post(url + "/v1/audio/speech", headers=headers, timeout=120, json={
        "input": "The birch canoe slid on the smooth planks, and we watched it go.", "voice": "joe",
        "response_format": "wav", "stream": False})
    r.raise_for_status()
    path.write_bytes(r.content)
    return path


def voice_ids(url: str, headers: dict | None = None) -> list[str]:
    r = httpx.get(url + "/v1/audio/voices", headers=headers, timeout=30)
    r.raise_for_status()
    return [v["id"] for v in r.json()["data"]]
