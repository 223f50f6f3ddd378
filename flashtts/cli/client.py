"""``flashtts client``: the command-line client of CosyVoice's FastAPI server (its ``client.py``).

Same options and defaults; it sends the same GET requests with form fields to
``/inference_<mode>``, receives 16-bit mono PCM and saves it as a WAV file at the rate the server
names (``X-Custom-Header-sampleRate``, 22,050 Hz when absent, CosyVoice's rate). Works against
flashtts and against a CosyVoice server.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import typer

MODES = ("sft", "zero_shot", "cross_lingual", "instruct", "instruct2")
DEFAULT_RATE = 22050


def _fields(mode: str, tts_text: str, spk_id: str, prompt_text: str, instruct_text: str) -> dict[str, str]:
    if mode == "sft":
        return {"tts_text": tts_text, "spk_id": spk_id}
    if mode == "zero_shot":
        return {"tts_text": tts_text, "prompt_text": prompt_text}
    if mode == "cross_lingual":
        return {"tts_text": tts_text}
    if mode == "instruct":
        return {"tts_text": tts_text, "spk_id": spk_id, "instruct_text": instruct_text}
    return {"tts_text": tts_text, "instruct_text": instruct_text}


def pcm_of(body: bytes) -> bytes:
    """The PCM samples of an answer: raw PCM as CosyVoice sends it, or a WAV stream's data."""
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        at = body.find(b"data", 12)
        if at >= 0:
            return body[at + 8:]
    return body


def write_wav(path: Path, pcm: bytes, rate: int) -> float:
    """Save 16-bit mono PCM as a WAV file; returns its duration in seconds."""
    pcm = pcm[: len(pcm) // 2 * 2]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return len(pcm) / 2 / rate


def client(
    host: str = typer.Option("0.0.0.0", "--host", help="Server address"),
    port: int = typer.Option(50000, "--port", help="Server port"),
    mode: str = typer.Option("sft", "--mode", help="Request mode: " + " | ".join(MODES)),
    tts_text: str = typer.Option("你好，我是通义千问语音合成大模型，请问有什么可以帮您的吗？",
                                 "--tts_text", "--tts-text",
                                 help="Text to speak"),
    spk_id: str = typer.Option("中文女", "--spk_id", "--spk-id", help="Speaker (sft, instruct)"),
    prompt_text: str = typer.Option("希望你以后能够做的比我还好呦。", "--prompt_text", "--prompt-text",
                                    help="Transcript of --prompt_wav (zero_shot)"),
    prompt_wav: Path = typer.Option(Path("zero_shot_prompt.wav"), "--prompt_wav", "--prompt-wav",
                                    help="Prompt clip (zero_shot, cross_lingual, instruct2)"),
    instruct_text: str = typer.Option(
        "Theo 'Crimson', is a fiery, passionate rebel leader. Fights with fervor for justice, but struggles with "
        "impulsiveness.", "--instruct_text", "--instruct-text", help="Style instruction (instruct, instruct2)"),
    tts_wav: Path = typer.Option(Path("demo.wav"), "--tts_wav", "--tts-wav", help="Output WAV file"),
    url: str | None = typer.Option(None, "--url", help="Server base URL, instead of --host/--port"),
    api_key: str | None = typer.Option(None, "--api_key", "--api-key", envvar="FLASHTTS_API_KEY",
                                          help="Sent as 'Authorization: Bearer KEY' (servers started with --api_key)"),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the whole answer", min=1.0),
) -> None:
    """Call a CosyVoice-style server (/inference_<mode>) and save the answer as a WAV file."""
    import httpx

    if mode not in MODES:
        typer.echo(f"error: --mode must be one of {', '.join(MODES)}, not {mode!r}", err=True)
        raise typer.Exit(2)
    base = (url or f"http://{host}:{port}").rstrip("/")
    files = None
    if mode in ("zero_shot", "cross_lingual", "instruct2"):
        try:
            files = {"prompt_wav": ("prompt_wav", prompt_wav.read_bytes(), "application/octet-stream")}
        except OSError as exc:
            typer.echo(f"error: --prompt_wav {prompt_wav}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = bytearray()
    try:
        with httpx.Client(timeout=timeout) as http:
            with http.stream("GET", f"{base}/inference_{mode}", data=_fields(mode, tts_text, spk_id, prompt_text,
                                                                             instruct_text),
                             files=files, headers=headers) as response:
                for part in response.iter_bytes(16000):
                    body += part
                status = response.status_code
                rate = int(response.headers.get("x-custom-header-samplerate") or DEFAULT_RATE)
    except httpx.HTTPError as exc:
        typer.echo(f"error: {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    if status != 200:
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = bytes(body[:500]).decode(errors="replace")
        typer.echo(f"error: HTTP {status}: {message}", err=True)
        raise typer.Exit(1)
    seconds = write_wav(tts_wav, pcm_of(bytes(body)), rate)
    typer.echo(f"save response to {tts_wav} ({seconds:.2f} s at {rate} Hz)")
