"""Audio with PyAV: incremental encoders for the six response formats, decoding of uploads, tempo.

PyAV is imported on first use: 24 kHz pcm and wav (what the GPU run streams) never need it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    import av

OUTPUT_RATE = 24000
"""Every response is 24 kHz mono, as OpenAI's."""


@dataclass(frozen=True)
class AudioFormat:
    name: str
    media_type: str
    container: str | None
    codec: str | None
    streamable: bool = True
    """False when readers need the header to hold the total length (FLAC's STREAMINFO: libsndfile
    takes 0 total samples as endless), so a live stream of it is sent complete, once finished."""


FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame"),
    "opus": AudioFormat("opus", "audio/ogg", "ogg", "libopus"),
    "aac": AudioFormat("aac", "audio/aac", "adts", "aac"),
    "flac": AudioFormat("flac", "audio/flac", "flac", "flac", streamable=False),
    "wav": AudioFormat("wav", "audio/wav", None, None),
    "pcm": AudioFormat("pcm", "audio/pcm", None, None),
}


def _av() -> Any:
    """The ``av`` module (imported here, not at module level)."""
    import av

    return av


class AudioDecodeError(ValueError):
    """The upload is not audio PyAV can read."""


def pcm16(samples: np.ndarray) -> bytes:
    """Float32 [-1, 1] to 16-bit little-endian PCM (the one conversion: responses, roles, Wyoming)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """16-bit little-endian PCM to float32 [-1, 1] (the inverse of :func:`pcm16`)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0


def wav_header(num_samples: int | None, rate: int = OUTPUT_RATE) -> bytes:
    """RIFF/WAVE header for 16-bit mono; ``None`` samples (a live stream) writes the maximum sizes."""
    data_bytes = 0xFFFFFFFF - 36 if num_samples is None else num_samples * 2
    riff = 0xFFFFFFFF if num_samples is None else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


class _Sink:
    """A write-only, non-seekable file for PyAV: bytes are taken out as they are muxed."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class Resampler:
    """Stateful float32 mono resampler (chunk joins are seamless)."""

    def __init__(self, in_rate: int, out_rate: int = OUTPUT_RATE, out_format: str = "flt") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.out_format = out_format
        self._rs: av.AudioResampler | None = None  # made on first use: equal rates need none

    def frames(self, samples: np.ndarray | None) -> list[av.AudioFrame]:
        pyav = _av()
        if self._rs is None:
            self._rs = pyav.AudioResampler(format=self.out_format, layout="mono", rate=self.out_rate)
        if samples is None:
            return list(self._rs.resample(None))
        frame = pyav.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :],
                                           format="flt", layout="mono")
        frame.sample_rate = self.in_rate
        return list(self._rs.resample(frame))

    def __call__(self, samples: np.ndarray | None) -> np.ndarray:
        """Resample a chunk; ``None`` flushes what the filter still holds."""
        if samples is not None and self.in_rate == self.out_rate:
            return np.asarray(samples, dtype=np.float32)
        if samples is None and self.in_rate == self.out_rate:
            return np.zeros(0, dtype=np.float32)
        parts = [f.to_ndarray().reshape(-1) for f in self.frames(samples)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


class Encoder:
    """Incremental encoder: ``write`` float32 chunks at ``in_rate``, get encoded bytes back.

    ``live=True`` makes a stream that can be sent as it grows (WAV with open-ended sizes, no
    seek-back headers); ``live=False`` makes a complete file at ``finish`` (exact WAV sizes, MP3
    with its gapless-info header).
    """

    def __init__(self, fmt: str, in_rate: int, live: bool = True, out_rate: int = OUTPUT_RATE) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format '{fmt}'")
        self.format = FORMATS[fmt]
        self.live = live and self.format.streamable
        self.out_rate = out_rate
        self.samples_out = 0
        self._resample = Resampler(in_rate, out_rate)
        self._pcm: list[bytes] = []
        self._container: av.container.OutputContainer | None = None
        if self.format.codec is not None:
            pyav = _av()
            self._file: _Sink | io.BytesIO = _Sink() if self.live else io.BytesIO()
            self._container = pyav.open(self._file, mode="w", format=self.format.container)
            self._stream = cast("av.AudioStream", self._container.add_stream(self.format.codec, rate=out_rate))
            self._stream.layout = "mono"
            if self.format.name == "mp3":
                self._stream.bit_rate = 64000
            elif self.format.name in ("aac", "opus"):
                self._stream.bit_rate = 64000
            self._codec_format = self._stream.codec_context.format.name  # an audio codec: a sample format
            self._to_codec = pyav.AudioResampler(format=self._codec_format, layout="mono", rate=out_rate)

    @property
    def media_type(self) -> str:
        return self.format.media_type

    @property
    def compresses(self) -> bool:
        """True for the codec formats, whose encoding is worth moving off the event loop."""
        return self._container is not None

    def header(self) -> bytes:
        """Bytes to send before any audio (the WAV header of a live stream)."""
        return wav_header(None, self.out_rate) if self.format.name == "wav" and self.live else b""

    def _encode(self, samples: np.ndarray | None) -> bytes:
        frames: Iterable[av.AudioFrame]
        pyav = _av()
        if samples is None:
            frames = list(self._to_codec.resample(None)) + [None]
        else:
            frame = pyav.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate = self.out_rate
            frames = self._to_codec.resample(frame)
        assert self._container is not None
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._file.take() if isinstance(self._file, _Sink) else b""

    def write(self, samples: np.ndarray) -> bytes:
        out = self._resample(samples)
        self.samples_out += len(out)
        if self._container is None:
            data = pcm16(out)
            if self.live:
                return data
            self._pcm.append(data)
            return b""
        return self._encode(out) if len(out) else b""

    def finish(self) -> bytes:
        """Flush: the rest of a live stream, or the whole file when not live."""
        tail = self._resample(None)
        self.samples_out += len(tail)
        if self._container is None:
            data = pcm16(tail)
            if self.live:
                return data
            body = b"".join(self._pcm) + data
            return (wav_header(len(body) // 2, self.out_rate) if self.format.name == "wav" else b"") + body
        out = self._encode(tail) if len(tail) else b""
        out += self._encode(None)
        self._container.close()
        if isinstance(self._file, io.BytesIO):
            return self._file.getvalue()
        return out + self._file.take()


def encode(samples: np.ndarray, in_rate: int, fmt: str) -> bytes:
    """A complete file of ``samples`` in ``fmt`` at 24 kHz."""
    enc = Encoder(fmt, in_rate, live=False)
    enc.write(samples)
    return enc.finish()


MAX_CHANNELS = 64
"""Uploads with more channels than this are refused (a 400), never decoded."""
MIN_INPUT_RATE, MAX_INPUT_RATE = 1000, 768000
"""Sample rates an upload may have; outside them it is refused before any resampling."""


class AudioTooLongError(AudioDecodeError):
    """The upload is longer than the caller's limit (found while decoding, before the end)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"clip is longer than {limit:g} s")
        self.limit = limit


class _MonoDownmix:
    """Frames of any channel count, sample format and rate to float32 mono at ``rate``.

    Every frame goes through libswresample to *packed* float (one plane, whatever the channel
    count) and the channels are averaged here: PyAV reads planar frames of eight or more
    channels out of bounds (a crash), and ffmpeg's own mono downmix adds +3 dB.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._rs: av.AudioResampler | None = None
        self._setup: tuple[str, str, int] | None = None

    def __call__(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        if frame is None:
            return self._drain(None)
        channels = frame.layout.nb_channels
        if not 1 <= channels <= MAX_CHANNELS:
            raise AudioDecodeError(f"audio has {channels} channels; at most {MAX_CHANNELS} are accepted")
        if not MIN_INPUT_RATE <= frame.sample_rate <= MAX_INPUT_RATE:
            raise AudioDecodeError(f"audio sample rate {frame.sample_rate} Hz is outside "
                                   f"{MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz")
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        out: list[np.ndarray] = []
        if setup != self._setup:  # a stream may change layout or rate mid-way: start a new resampler
            out += self._drain(None)
            self._rs = _av().AudioResampler(format="flt", layout=frame.layout.name, rate=self.rate)
            self._setup = setup
        frame.pts = None
        return out + self._drain(frame)

    def _drain(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        if self._rs is None:
            return []
        out = []
        for resampled in self._rs.resample(frame):
            packed = resampled.to_ndarray().reshape(-1)
            out.append(packed.reshape(-1, resampled.layout.nb_channels).mean(axis=1, dtype=np.float32))
        return out


def decode(data: bytes, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Decode any audio file PyAV reads (wav, mp3, m4a, ogg, flac, ...) to float32 mono at ``rate``.

    With ``max_seconds``, decoding stops with :class:`AudioTooLongError` as soon as the input
    passes that length: a small file that expands to hours of audio is never decoded whole.
    """
    if not data:
        raise AudioDecodeError("audio file is empty")
    pyav = _av()
    try:
        container = pyav.open(io.BytesIO(data), mode="r")
    except (pyav.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"not a readable audio file ({exc.__class__.__name__})") from None
    parts: list[np.ndarray] = []
    seconds = 0.0
    try:
        if not container.streams.audio:
            raise AudioDecodeError("file has no audio stream")
        stream = container.streams.audio[0]
        downmix = _MonoDownmix(rate)
        for frame in container.decode(stream):
            seconds += frame.samples / max(frame.sample_rate, 1)
            if max_seconds is not None and seconds > max_seconds:
                raise AudioTooLongError(max_seconds)
            parts += downmix(frame)
        parts += downmix(None)
    except (pyav.error.FFmpegError, ValueError, MemoryError) as exc:
        if isinstance(exc, AudioDecodeError):
            raise
        raise AudioDecodeError(f"audio could not be decoded ({exc.__class__.__name__})") from None
    finally:
        container.close()
    if not parts:
        raise AudioDecodeError("audio file holds no samples")
    return np.concatenate(parts).astype(np.float32)


def _atempo_chain(factor: float) -> list[float]:
    """atempo takes 0.5-2.0 per stage: split ``factor`` into such stages."""
    factors: list[float] = []
    while factor > 2.0:
        factors.append(2.0)
        factor /= 2.0
    while factor < 0.5:
        factors.append(0.5)
        factor /= 0.5
    return factors + [factor]


class Effects:
    """Stateful speed change (pitch kept) and pitch shift (length kept) with ffmpeg filters.

    For engines that cannot change speed or pitch themselves; chunk joins are seamless.
    """

    def __init__(self, rate: int, speed: float = 1.0, pitch: float = 1.0) -> None:
        self.rate = rate
        stages: list[tuple[str, str]] = []
        if abs(pitch - 1.0) > 1e-6:
            stages += [("asetrate", str(int(round(rate * pitch)))), ("aresample", str(rate))]
        tempo = speed / pitch
        if abs(tempo - 1.0) > 1e-6:
            stages += [("atempo", f"{f:.6f}") for f in _atempo_chain(tempo)]
        pyav = _av()
        graph = pyav.filter.Graph()
        node = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
        for name, args in stages + [("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={rate}")]:
            nxt = graph.add(name, args)
            node.link_to(nxt)
            node = nxt
        sink = graph.add("abuffersink")
        node.link_to(sink)
        graph.configure()
        self._graph = graph
        self._pts = 0

    def _pull(self) -> np.ndarray:
        pyav = _av()
        parts = []
        while True:
            try:
                frame = self._graph.pull()
            except (pyav.error.BlockingIOError, pyav.error.EOFError):
                break
            parts.append(frame.to_ndarray().reshape(-1))
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray | None) -> np.ndarray:
        if samples is None:
            self._graph.push(None)
            return self._pull()
        frame = _av().AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :],
                                              format="flt", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += len(samples)
        self._graph.push(frame)
        return self._pull()
