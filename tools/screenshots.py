"""Screenshots of each tab of the web page, for docs/screenshots/ (run after changing web/).

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]

Starts a real server (default Piper engine, a temporary role directory) on a free loopback port,
drives Debian Chromium (/usr/bin/chromium) with Playwright through the Speak, Clone, Roles and
Dialogue tabs, and writes one PNG per tab plus the Chinese Speak tab and the API-key prompt.
Chinese text needs a CJK font on the machine (Debian: fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
from live_server import LiveServer  # tools/, this script's folder

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
KEY = "screenshot-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with LiveServer(cwd=ROOT) as server, LiveServer(["--api_key", KEY], cwd=ROOT) as auth_server:
        url, auth_url = server.url, auth_server.url
        clip = httpx.post(url + "/v1/audio/speech", timeout=120, json={
            "input": "The birch canoe slid on the smooth planks.", "voice": "joe", "response_format": "wav",
            "stream": False}).content
        tmp = server.tmp
        (tmp / "alice.wav").write_bytes(clip)
        httpx.post(url + "/v1/audio/voices", files={"audio_sample": ("alice.wav", clip, "audio/wav")},
                   data={"name": "alice", "reference_text": "The birch canoe slid on the smooth planks."},
                   timeout=60).raise_for_status()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            ctx = browser.new_context(viewport={"width": 1200, "height": 860}, locale="en-US",
                                      color_scheme="light")
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(url + "/")
            page.wait_for_selector("#speak-voice option[value='joe']", state="attached")

            def shot(name: str) -> None:
                page.mouse.move(0, 0)
                page.wait_for_timeout(300)
                page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                print("wrote", args.out / f"{name}.png")

            # Speak: a finished streamed result with its waveform and snippet
            page.fill("#speak-text", "Hello! This is flashtts, a text to speech server running on your own "
                      "machine. It streams audio while it speaks.")
            page.click("#speak-go")
            page.wait_for_selector("#speak-result .result-panel[data-state='done']")
            page.evaluate("document.querySelector('#speak-result audio').pause()")
            shot("speak")

            # Clone: a clip loaded, the engine's refusal to preview, the role saved
            page.click("#tab-clone")
            page.set_input_files("#clone-file", str(tmp / "alice.wav"))
            page.fill("#clone-ref-text", "The birch canoe slid on the smooth planks.")
            page.click("#clone-preview")
            page.wait_for_selector("#clone-preview-error:not([hidden])")
            page.fill("#clone-name", "bob")
            page.click("#clone-save")
            page.wait_for_selector("#clone-message.ok")
            shot("clone")

            page.click("#tab-roles")
            page.wait_for_selector("#roles-list li[data-role='bob']")
            shot("roles")

            page.click("#tab-dialogue")
            page.fill("#dlg-text", "")
            page.click("#dlg-chips .chip[data-voice='announcer']")
            page.keyboard.type("Attention please: the night train to the coast leaves from platform two.")
            page.click("#dlg-chips .chip[data-voice='narrator']")
            page.keyboard.type("She picked up her bag and walked slowly towards the gate.")
            page.click("#dlg-go")
            page.wait_for_selector("#dlg-result .result-panel[data-state='done']")
            page.evaluate("document.querySelector('#dlg-result audio').pause()")
            shot("dialogue")

            page.click("#tab-speak")
            page.click("#lang-toggle")
            shot("speak-zh")
            page.click("#lang-toggle")

            page = ctx.new_page()
            page.goto(auth_url + "/")
            page.wait_for_selector("#auth-banner:not([hidden])")
            shot("api-key")
            browser.close()


if __name__ == "__main__":
    main()
