// Speak tab: voice picker with preview, text, instructions, language, speed, format; streaming result.

import { api, apiKey } from "./api.js";
import { t, onLangChange } from "./i18n.js";
import { playbackFor } from "./player.js";
import { previewVoice } from "./preview.js";
import { showError, SpeechRunner } from "./result.js";
import * as snip from "./snippets.js";
import { builtins, capabilities, engineName, onChange, reloadVoices, roles, state, voiceById } from "./state.js";

const $ = (id) => document.getElementById(id);
const MAX_CHARS = 4096;

export function selectVoice(id) {
  const sel = $("speak-voice");
  if ([...sel.options].some((o) => o.value === id)) {
    sel.value = id;
    sel.dispatchEvent(new Event("change"));
  }
}

function renderVoices() {
  const sel = $("speak-voice");
  const keep = sel.value;
  sel.textContent = "";
  const group = (label, voices) => {
    if (!voices.length) return;
    const g = document.createElement("optgroup");
    g.label = label;
    for (const v of voices) {
      const o = document.createElement("option");
      o.value = v.id;
      o.textContent = v.name && v.name !== v.id ? `${v.name} (${v.id})` : v.id;
      g.appendChild(o);
    }
    sel.appendChild(g);
  };
  group(t("speak.builtin"), builtins());
  group(t("speak.roles"), roles());
  const fallback = (state.info && state.info.default_voice) || (state.voices[0] && state.voices[0].id) || "";
  sel.value = voiceById(keep) ? keep : fallback;
  describeVoice();
}

function describeVoice() {
  const v = voiceById($("speak-voice").value);
  $("speak-voice-desc").textContent = v ? [v.description, v.language].filter(Boolean).join(" · ") : "";
}

function renderLanguages() {
  const sel = $("speak-language");
  const keep = sel.value || "auto";
  const langs = ["auto", ...((state.info && state.info.languages) || []).filter((l) => l !== "auto")];
  sel.textContent = "";
  for (const l of langs) {
    const o = document.createElement("option");
    o.value = o.textContent = l;
    sel.appendChild(o);
  }
  sel.value = langs.includes(keep) ? keep : "auto";
}

function renderInstructions() {
  const caps = capabilities();
  $("speak-instructions-row").hidden = !(caps.includes("instruct") || caps.includes("voice_design"));
  $("speak-words-row").hidden = !caps.includes("timestamps");
  $("speak-mix-row").hidden = !caps.includes("voice_mixing");
}

/** The mix typed in (engines that blend voices), or "" to speak with the picked voice. */
function mixValue() {
  return $("speak-mix-row").hidden ? "" : $("speak-mix").value.trim();
}

/** Save the typed mix as a role (POST /v1/audio/voices with `voice`), then pick that role. */
async function saveMix() {
  const mix = mixValue();
  const name = $("speak-mix-name").value.trim();
  const status = $("speak-mix-status");
  showError($("speak-error"), null);
  if (!mix || !name) {
    status.textContent = t("speak.mixEmpty");
    return;
  }
  const form = new FormData();
  form.append("name", name);
  form.append("voice", mix);
  try {
    const role = await api("/v1/audio/voices", { form });
    await reloadVoices();
    $("speak-mix").value = "";
    selectVoice(role.id);
    status.textContent = t("speak.mixSaved", { name: role.id, mix });
  } catch (err) {
    status.textContent = "";
    showError($("speak-error"), err);
  }
}

/** Word highlighting asked for (and possible): the captioned route, in a format an audio element plays. */
function captioned() {
  return !$("speak-words-row").hidden && $("speak-words").checked;
}

function updateCount() {
  $("speak-count").textContent = t("speak.count", { n: $("speak-text").value.length, max: MAX_CHARS });
}

function updateFormatNote() {
  const p = playbackFor($("speak-format").value);
  $("speak-format-note").textContent = t(p.fallback ? "format.fallback" : `format.${p.mode}`);
}

function updateSpeed() {
  $("speak-speed-value").textContent = `${Number($("speak-speed").value).toFixed(2)}×`;
}

/** The /v1/audio/speech body for the form (only fields the user set beyond the defaults). */
function buildBody() {
  const input = $("speak-text").value;
  if (!input.trim()) throw new Error(t("speak.placeholder"));
  const voice = mixValue() || $("speak-voice").value;
  const body = { model: engineName(), voice, input, response_format: $("speak-format").value };
  const instructions = $("speak-instructions").value.trim();
  if (!$("speak-instructions-row").hidden && instructions) body.instructions = instructions;
  const speed = Number($("speak-speed").value);
  if (Math.abs(speed - 1) > 1e-9) body.speed = speed;
  const language = $("speak-language").value;
  if (language && language !== "auto") body.language = language;
  return body;
}

export function initSpeak() {
  const runner = new SpeechRunner({
    go: $("speak-go"), stop: $("speak-stop"), status: $("speak-status"), error: $("speak-error"),
    host: $("speak-result"),
    build: () => {
      const words = captioned();
      const path = words ? "/v1/audio/speech/captioned" : "/v1/audio/speech";
      const body = buildBody();
      if (words && body.response_format === "pcm") body.response_format = "wav"; // an audio element cannot play raw PCM
      return {
        path, body, captioned: words,
        pythonLabel: words ? "httpx" : "openai-python",
        snippets: (b) => {
          const opts = { auth: !!apiKey(), output: words ? "speech.json" : `speech.${b.response_format}` };
          const python = words ? snip.httpxPython(location.origin, path, b, opts) : snip.openaiPython(location.origin, b, opts);
          return { curl: snip.curl(location.origin, path, b, opts), python };
        },
      };
    },
  });
  $("speak-text").addEventListener("input", updateCount);
  $("speak-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runner.run();
  });
  $("speak-format").addEventListener("change", updateFormatNote);
  $("speak-speed").addEventListener("input", updateSpeed);
  $("speak-voice").addEventListener("change", describeVoice);
  $("speak-mix-save").addEventListener("click", saveMix);
  $("speak-preview").addEventListener("click", async () => {
    const v = voiceById($("speak-voice").value);
    if (!v) return;
    showError($("speak-error"), null);
    const btn = $("speak-preview");
    btn.disabled = true;
    try {
      await previewVoice(v);
    } catch (err) {
      showError($("speak-error"), err);
    } finally {
      btn.disabled = false;
    }
  });
  onChange(() => {
    renderVoices();
    renderLanguages();
    renderInstructions();
  });
  onLangChange(() => {
    updateCount();
    updateFormatNote();
    renderVoices();
    runner.retranslate();
  });
  updateCount();
  updateFormatNote();
  updateSpeed();
  return runner;
}
