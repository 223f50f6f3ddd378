// Clone tab: a reference clip (upload or microphone), preview through /clone_voice, save as a role.

import { api, ApiError } from "./api.js";
import { t, onLangChange } from "./i18n.js";
import { showError } from "./result.js";
import { capabilities, engineName, onChange, reloadVoices, state } from "./state.js";

const $ = (id) => document.getElementById(id);

let clip = null; // File or Blob of the reference clip
let recorder = null;
let recTimer = null;
let clipUrl = null;

function sizeText(bytes) {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function setClip(file) {
  clip = file;
  const box = $("clone-clip-box");
  if (clipUrl) URL.revokeObjectURL(clipUrl);
  if (!file) {
    box.hidden = true;
    return;
  }
  clipUrl = URL.createObjectURL(file);
  $("clone-clip").src = clipUrl;
  $("clone-clip-info").textContent = t("clone.clipInfo", { name: file.name || "recording", size: sizeText(file.size) });
  box.hidden = false;
}

function message(text, kind = "ok") {
  const box = $("clone-message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

function renderCapability() {
  const note = $("clone-capability");
  const canClone = capabilities().includes("clone");
  note.hidden = !state.info || canClone;
  note.textContent = canClone ? "" : t("clone.cannot", { engine: engineName() });
}

async function toggleRecording() {
  const btn = $("clone-record");
  if (recorder) {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
    message(t("clone.micUnavailable"), "error");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    message(t("clone.micDenied", { message: err.message || err.name }), "error");
    return;
  }
  const parts = [];
  recorder = new MediaRecorder(stream);
  const started = performance.now();
  recorder.ondataavailable = (e) => e.data.size && parts.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((tr) => tr.stop());
    clearInterval(recTimer);
    const type = recorder.mimeType || "audio/webm";
    const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    setClip(new File(parts, `recording.${ext}`, { type }));
    recorder = null;
    btn.textContent = t("clone.record");
    btn.classList.remove("recording");
  };
  recorder.start(250);
  btn.textContent = t("clone.recordStop");
  btn.classList.add("recording");
  message("");
  recTimer = setInterval(() => {
    $("clone-rec-time").textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
}

async function preview() {
  const errBox = $("clone-preview-error");
  showError(errBox, null);
  if (!clip) return showError(errBox, new Error(t("clone.noClip")));
  const form = new FormData();
  form.append("text", $("clone-text").value);
  const ref = $("clone-ref-text").value.trim();
  if (ref) form.append("reference_text", ref);
  form.append("response_format", "mp3");
  form.append("reference_audio_file", clip, clip.name || "clip");
  const btn = $("clone-preview");
  const status = $("clone-preview-status");
  btn.disabled = true;
  status.textContent = t("status.previewing");
  try {
    const res = await api("/clone_voice", { form, raw: true });
    const audio = $("clone-preview-audio");
    audio.src = URL.createObjectURL(await res.blob());
    audio.hidden = false;
    await audio.play().catch(() => {});
    status.textContent = t("status.done");
  } catch (err) {
    status.textContent = t("status.error");
    const cannot = err instanceof ApiError && err.code === "unsupported_capability";
    showError(errBox, err, cannot ? t("clone.engineSaid") : "");
  } finally {
    btn.disabled = false;
  }
}

async function save() {
  message("");
  const name = $("clone-name").value.trim();
  if (!clip) return message(t("clone.noClip"), "error");
  if (!name) return message(t("clone.noName"), "error");
  const form = new FormData();
  form.append("name", name);
  form.append("audio_sample", clip, clip.name || "clip");
  const ref = $("clone-ref-text").value.trim();
  if (ref) form.append("reference_text", ref);
  if ($("clone-overwrite").checked) form.append("overwrite", "true");
  const btn = $("clone-save");
  btn.disabled = true;
  try {
    const voice = await api("/v1/audio/voices", { form });
    message(t("clone.saved", { name: voice.name || name }), "ok");
    await reloadVoices();
  } catch (err) {
    const msg = err instanceof ApiError ? `${err.message} (HTTP ${err.status})` : err.message;
    message(msg, "error");
  } finally {
    btn.disabled = false;
  }
}

export function initClone() {
  $("clone-file").addEventListener("change", (e) => {
    const f = e.target.files && e.target.files[0];
    setClip(f || null);
    message("");
  });
  $("clone-record").addEventListener("click", toggleRecording);
  $("clone-preview").addEventListener("click", preview);
  $("clone-save").addEventListener("click", save);
  onChange(renderCapability);
  onLangChange(() => {
    renderCapability();
    if (clip) setClip(clip);
    if (!recorder) $("clone-record").textContent = t("clone.record");
  });
}
