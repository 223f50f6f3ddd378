// Streaming playback of a synthesis response.
//   mse : mp3/aac chunks appended to a MediaSource (plays while the server is still synthesising)
//   pcm : pcm/wav chunks scheduled on Web Audio (the fallback where MediaSource is missing)
//   file: formats a browser cannot stream (opus, flac) play once the whole file has arrived

import { api } from "./api.js";

export const OUTPUT_RATE = 24000; // every flashtts format is 24 kHz mono
const MSE_TYPES = { mp3: "audio/mpeg", aac: "audio/aac" };
export const MIME = {
  mp3: "audio/mpeg", aac: "audio/aac", opus: "audio/ogg", flac: "audio/flac", wav: "audio/wav", pcm: "audio/pcm",
};

function mseSupports(format) {
  const MS = window.MediaSource;
  return !!(MS && MSE_TYPES[format] && MS.isTypeSupported(MSE_TYPES[format]));
}

/**
 * How a format is played here: ``{mode, request, fallback}``; ``request`` is the format actually
 * asked of the server (mp3/aac become pcm where MediaSource is missing).
 */
export function playbackFor(format) {
  if (format === "pcm" || format === "wav") return { mode: "pcm", request: format, fallback: false };
  if (MSE_TYPES[format]) {
    return mseSupports(format)
      ? { mode: "mse", request: format, fallback: false }
      : { mode: "pcm", request: "pcm", fallback: true };
  }
  return { mode: "file", request: format, fallback: false };
}

let sharedContext = null;

/** One AudioContext at 24 kHz for the whole page, created (and resumed) on a user gesture. */
export function audioContext() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!sharedContext) {
    try {
      sharedContext = new Ctx({ sampleRate: OUTPUT_RATE });
    } catch {
      sharedContext = new Ctx();
    }
  }
  if (sharedContext.state === "suspended") sharedContext.resume().catch(() => {});
  return sharedContext;
}

/** Float32 samples -> 16-bit mono WAV blob. */
export function wavBlob(samples, rate = OUTPUT_RATE) {
  const buf = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE");
  str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buf], { type: "audio/wav" });
}

/** Decode any audio blob to mono float32 samples at 24 kHz (for the waveform and duration). */
export async function decodeBlob(blob) {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  const ctx = new Offline(1, 1, OUTPUT_RATE);
  const buffer = await ctx.decodeAudioData(await blob.arrayBuffer());
  return buffer.getChannelData(0);
}

function concat(a, b) {
  if (!a.length) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function joinFloat(parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Offset of the sample data in a (possibly open-ended) WAV header, or -1 until enough bytes arrived. */
function wavDataOffset(bytes) {
  if (bytes.length < 12) return -1;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 12;
  while (o + 8 <= bytes.length) {
    const id = String.fromCharCode(bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]);
    const size = v.getUint32(o + 4, true);
    if (id === "data") return o + 8;
    o += 8 + size + (size & 1);
  }
  return -1;
}

function once(target, event) {
  return new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));
}

/**
 * POST ``body`` to ``path`` and play the answer in ``audio`` as it arrives.
 * Resolves with ``{blob, filename, samples, ttfa, total, requestId, mode, stopped}``; the fetch
 * is aborted (and playback stopped) when ``signal`` fires.
 */
export async function playStream({ path, body, audio, signal, mode, fallback = false, onFirstAudio }) {
  const format = body.response_format;
  const t0 = performance.now();
  let ttfa = null;
  let firstChunk = 0;
  const chunks = [];
  const first = () => {
    if (ttfa === null) {
      ttfa = performance.now() - t0;
      firstChunk = chunks.length; // how many chunks had arrived when playback began
      if (onFirstAudio) onFirstAudio(ttfa);
    }
  };
  const ctx = mode === "pcm" ? audioContext() : null; // made before the first await: still in the click
  const res = await api(path, { json: body, signal, raw: true });
  const requestId = res.headers.get("x-request-id");
  const reader = res.body.getReader();
  const stopOnAbort = [];
  const onAbort = () => stopOnAbort.forEach((fn) => { try { fn(); } catch { /* already stopped */ } });
  signal.addEventListener("abort", onAbort, { once: true });
  let stopped = false;
  let samples = null;
  let scheduled = 0; // seconds handed to Web Audio (pcm mode)
  try {
    if (mode === "mse") {
      await streamMse(reader, audio, MSE_TYPES[format], chunks, first, stopOnAbort);
    } else if (mode === "pcm") {
      ({ samples, scheduled } = await streamPcm(reader, ctx, format === "wav", chunks, first, stopOnAbort));
    } else {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    stopped = true;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (signal.aborted) { stopped = true; onAbort(); }
  const total = performance.now() - t0;

  let blob;
  let filename = `speech.${format}`;
  if (mode === "pcm") {
    if (format === "pcm" && !fallback) {
      blob = new Blob(chunks, { type: "audio/pcm" });
    } else {
      blob = wavBlob(samples);
      filename = "speech.wav";
    }
    // keep the result in the audio element for replay (Web Audio already played it)
    audio.src = URL.createObjectURL(wavBlob(samples));
  } else {
    blob = new Blob(chunks, { type: MIME[format] });
    if (mode === "file" && !stopped && blob.size) {
      audio.src = URL.createObjectURL(blob);
      first();
      audio.play().catch(() => {});
    }
  }
  return { blob, filename, samples, ttfa, total, requestId, mode, stopped, chunks: chunks.length, firstChunk, scheduled };
}

async function streamMse(reader, audio, mime, chunks, first, stopOnAbort) {
  const ms = new MediaSource();
  audio.src = URL.createObjectURL(ms);
  await once(ms, "sourceopen");
  const sb = ms.addSourceBuffer(mime);
  try { sb.mode = "sequence"; } catch { /* some browsers fix the mode */ }
  stopOnAbort.push(() => audio.pause());
  const append = (data) => new Promise((resolve, reject) => {
    const done = () => { sb.removeEventListener("error", fail); resolve(); };
    const fail = () => { sb.removeEventListener("updateend", done); reject(new Error("MediaSource append failed")); };
    sb.addEventListener("updateend", done, { once: true });
    sb.addEventListener("error", fail, { once: true });
    sb.appendBuffer(data);
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value.length) continue;
      chunks.push(value);
      await append(value);
      if (chunks.length === 1) {
        first();
        audio.play().catch(() => {});
      }
    }
  } finally {
    if (ms.readyState === "open" && !sb.updating) {
      try { ms.endOfStream(); } catch { /* closed */ }
    }
  }
}

async function streamPcm(reader, ctx, isWav, chunks, first, stopOnAbort) {
  const parts = [];
  const sources = [];
  stopOnAbort.push(() => sources.forEach((s) => { try { s.stop(); } catch { /* done */ } }));
  let pending = new Uint8Array(0);
  let headerDone = !isWav;
  let next = 0;
  let scheduled = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    pending = concat(pending, value);
    if (!headerDone) {
      const off = wavDataOffset(pending);
      if (off < 0 || off > pending.length) continue;
      pending = pending.slice(off);
      headerDone = true;
    }
    const n = pending.length >> 1;
    if (!n) continue;
    const view = new DataView(pending.buffer, pending.byteOffset, n * 2);
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = view.getInt16(i * 2, true) / 32768;
    pending = pending.slice(n * 2);
    parts.push(f);
    if (ctx) {
      const buffer = ctx.createBuffer(1, n, OUTPUT_RATE);
      buffer.copyToChannel(f, 0);
      const src = ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(ctx.destination);
      next = Math.max(next, ctx.currentTime + 0.03);
      src.start(next);
      next += buffer.duration;
      scheduled += buffer.duration;
      sources.push(src);
    }
    first();
  }
  return { samples: joinFloat(parts), scheduled };
}
