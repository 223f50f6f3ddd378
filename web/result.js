// One synthesis run bound to its buttons and result panel: stream, stop, metrics, waveform,
// download and the "copy as" snippet of the exact request.

import { ApiError, isAbort } from "./api.js";
import { playCaptioned, WordHighlighter } from "./captions.js";
import { t, translate, onLangChange } from "./i18n.js";
import { decodeBlob, playbackFor, playStream, OUTPUT_RATE } from "./player.js";
import { drawWave } from "./waveform.js";

const fmtMs = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
const fmtS = (s) => `${s.toFixed(2)} s`;

/** Show an error (ApiError message, or any Error's) in ``box``; empty ``err`` hides it. */
export function showError(box, err, prefix = "") {
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  const msg = err instanceof ApiError ? err.message : (err && err.message) || String(err);
  const status = err instanceof ApiError ? ` (HTTP ${err.status}${err.code ? `, ${err.code}` : ""})` : "";
  box.textContent = `${prefix}${msg}${status}`;
  box.hidden = false;
}

export class ResultPanel {
  constructor(host) {
    const tpl = document.getElementById("result-template");
    host.appendChild(tpl.content.cloneNode(true));
    this.root = host.querySelector(".result-panel");
    translate(this.root);
    this.part = (name) => this.root.querySelector(`[data-part="${name}"]`);
    this.audio = this.part("audio");
    this.canvas = this.part("wave");
    this.words = new WordHighlighter(this.part("words"));
    this.samples = null;
    this.snippets = { curl: "", python: "" };
    this.snippetKind = "curl";
    for (const b of this.root.querySelectorAll("[data-snippet]")) {
      b.addEventListener("click", () => this.showSnippet(b.dataset.snippet));
    }
    this.part("copy").addEventListener("click", () => this.copy());
    const redraw = () => this.drawProgress();
    this.audio.addEventListener("timeupdate", redraw);
    this.audio.addEventListener("seeked", redraw);
    this.audio.addEventListener("play", () => this.animate());
    this.canvas.addEventListener("click", (e) => {
      const d = this.audio.duration;
      if (!Number.isFinite(d) || !d) return;
      const r = this.canvas.getBoundingClientRect();
      this.audio.currentTime = ((e.clientX - r.left) / r.width) * d;
    });
    window.addEventListener("resize", redraw);
    onLangChange(() => this.root.dataset.mode && (this.part("mode").textContent = t(`result.mode.${this.root.dataset.mode}`)));
  }

  start(mode, snippets, pythonLabel) {
    const r = this.root;
    r.hidden = false;
    r.dataset.state = "streaming";
    r.dataset.mode = mode;
    delete r.dataset.ttfaMs;
    delete r.dataset.decodedSeconds;
    delete r.dataset.requestId;
    delete r.dataset.chunks;
    delete r.dataset.firstAudioChunk;
    delete r.dataset.webAudioSeconds;
    this.part("ttfa").textContent = "…";
    this.part("total").textContent = "…";
    this.part("duration").textContent = "…";
    this.part("mode").textContent = t(`result.mode.${mode}`);
    this.part("python-label").textContent = pythonLabel;
    const dl = this.part("download");
    if (dl.href) URL.revokeObjectURL(dl.href);
    dl.hidden = true;
    dl.removeAttribute("href");
    this.audio.pause();
    this.samples = null;
    this.words.set(null);
    drawWave(this.canvas, null);
    this.snippets = snippets;
    this.showSnippet(this.snippetKind);
  }

  firstAudio(ms) {
    this.root.dataset.ttfaMs = String(Math.round(ms));
    this.part("ttfa").textContent = fmtMs(ms);
  }

  async finish(result) {
    const r = this.root;
    r.dataset.state = result.stopped ? "stopped" : "done";
    if (result.requestId) r.dataset.requestId = result.requestId;
    r.dataset.chunks = String(result.chunks); // with firstChunk: proof that playback began mid-stream
    r.dataset.firstAudioChunk = String(result.firstChunk);
    if (result.mode === "pcm") r.dataset.webAudioSeconds = result.scheduled.toFixed(3);
    if (result.ttfa === null) this.part("ttfa").textContent = "–";
    this.part("total").textContent = fmtMs(result.total);
    if (result.blob && result.blob.size) {
      const dl = this.part("download");
      dl.href = URL.createObjectURL(result.blob);
      dl.download = result.filename;
      dl.hidden = false;
    }
    let samples = result.samples;
    if (!samples && result.blob && result.blob.size) {
      try {
        samples = await decodeBlob(result.blob);
      } catch {
        samples = null; // a stream cut short by Stop may not decode
      }
    }
    this.samples = samples;
    if (result.words) this.words.set(result.words);
    const seconds = samples ? samples.length / OUTPUT_RATE : 0;
    r.dataset.decodedSeconds = seconds.toFixed(3);
    this.part("duration").textContent = samples ? fmtS(seconds) : "–";
    this.drawProgress();
  }

  fail() {
    this.root.dataset.state = "error";
    if (!this.root.dataset.ttfaMs) {
      this.root.hidden = true; // nothing played: the error box says it all
      return;
    }
    this.part("total").textContent = "–";
    this.part("duration").textContent = "–";
  }

  drawProgress() {
    const d = this.audio.duration;
    const p = Number.isFinite(d) && d > 0 ? this.audio.currentTime / d : 0;
    drawWave(this.canvas, this.samples, p);
    this.words.show(this.audio.currentTime);
  }

  animate() {
    const step = () => {
      this.drawProgress();
      if (!this.audio.paused && !this.audio.ended) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  showSnippet(kind) {
    this.snippetKind = kind;
    for (const b of this.root.querySelectorAll("[data-snippet]")) b.setAttribute("aria-pressed", String(b.dataset.snippet === kind));
    this.part("snippet").textContent = this.snippets[kind] || "";
  }

  async copy() {
    const text = this.part("snippet").textContent;
    const btn = this.part("copy");
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement("textarea"); // http pages on other hosts lack navigator.clipboard
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    btn.textContent = t("result.copied");
    setTimeout(() => (btn.textContent = t("result.copy")), 1200);
  }
}

/**
 * Wire a Speak-like form: ``build()`` returns ``{path, body, snippets(body), pythonLabel, captioned}`` or
 * throws an Error with a message for the user; ``captioned`` plays the captioned route's answer with its words.
 */
export class SpeechRunner {
  constructor({ go, stop, status, error, host, build }) {
    Object.assign(this, { go, stop, status, error, build });
    this.panel = new ResultPanel(host);
    this.controller = null;
    go.addEventListener("click", () => this.run());
    stop.addEventListener("click", () => this.abort());
  }

  abort() {
    if (this.controller) this.controller.abort();
  }

  setStatus(key) {
    this.status.dataset.key = key;
    this.status.textContent = key ? t(key) : "";
  }

  async run() {
    showError(this.error, null);
    let req;
    try {
      req = this.build();
    } catch (err) {
      showError(this.error, err);
      return;
    }
    this.abort();
    const playback = req.captioned ? { mode: "file", request: req.body.response_format } : playbackFor(req.body.response_format);
    const body = { ...req.body, response_format: playback.request };
    const controller = new AbortController();
    this.controller = controller;
    this.go.disabled = true;
    this.stop.disabled = false;
    this.setStatus("status.connecting");
    this.panel.start(playback.mode, req.snippets(body), req.pythonLabel);
    try {
      const play = req.captioned ? playCaptioned : playStream;
      const result = await play({
        path: req.path, body, audio: this.panel.audio, signal: controller.signal, mode: playback.mode,
        fallback: playback.fallback,
        onFirstAudio: (ms) => {
          this.panel.firstAudio(ms);
          this.setStatus(playback.mode === "file" ? "status.done" : "status.streaming");
        },
      });
      this.setStatus(result.stopped ? "status.stopped" : "status.done");
      await this.panel.finish(result);
    } catch (err) {
      if (isAbort(err)) {
        this.setStatus("status.stopped");
        this.panel.root.dataset.state = "stopped";
      } else {
        this.setStatus("status.error");
        this.panel.fail();
        showError(this.error, err);
      }
    } finally {
      if (this.controller === controller) {
        this.controller = null;
        this.go.disabled = false;
        this.stop.disabled = true;
      }
    }
  }

  retranslate() {
    if (this.status.dataset.key) this.status.textContent = t(this.status.dataset.key);
  }
}
