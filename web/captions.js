// Captioned speech: the whole file with its word timings (/v1/audio/speech/captioned), and the
// words highlighted in time with playback.

import { api } from "./api.js";
import { MIME } from "./player.js";

/** POST ``body`` to the captioned route and play the answer; resolves like ``playStream``, plus ``words``. */
export async function playCaptioned({ body, audio, signal, onFirstAudio }) {
  const t0 = performance.now();
  const res = await api("/v1/audio/speech/captioned", { json: body, signal, raw: true });
  const requestId = res.headers.get("x-request-id");
  const data = await res.json();
  const bytes = Uint8Array.from(atob(data.audio), (c) => c.charCodeAt(0));
  const blob = new Blob([bytes], { type: MIME[data.format] });
  audio.src = URL.createObjectURL(blob);
  const ttfa = performance.now() - t0;
  if (onFirstAudio) onFirstAudio(ttfa);
  audio.play().catch(() => {});
  return { blob, filename: `speech.${data.format}`, samples: null, ttfa, total: performance.now() - t0, requestId,
           mode: "file", stopped: false, chunks: 1, firstChunk: 1, scheduled: 0, words: data.words };
}

/** Words as spans in ``host``; ``show(t)`` marks the one being spoken at ``t`` seconds. */
export class WordHighlighter {
  constructor(host) {
    this.host = host;
    this.words = [];
    this.spans = [];
  }

  set(words) {
    this.words = words || [];
    this.host.textContent = "";
    this.spans = this.words.map((w, i) => {
      const span = document.createElement("span");
      span.textContent = w.word;
      span.dataset.index = String(i);
      span.dataset.start = String(w.start);
      span.dataset.end = String(w.end);
      this.host.append(span, " ");
      return span;
    });
    this.host.hidden = !this.words.length;
    this.host.dataset.current = "-1";
  }

  /** The word heard at ``t``: the last one started by then, until the next starts (pauses keep it lit). */
  show(t) {
    let current = -1;
    for (let i = 0; i < this.words.length && this.words[i].start <= t; i++) current = i;
    if (current >= 0 && t > this.words[current].end + 0.5) current = -1;
    if (String(current) === this.host.dataset.current) return;
    this.host.dataset.current = String(current);
    this.spans.forEach((s, i) => s.classList.toggle("current", i === current));
  }
}
