// Dialogue tab: a script with <role:name> tags (chips insert them), spoken by /multi_speak.

import { apiKey } from "./api.js";
import { t, onLangChange } from "./i18n.js";
import { SpeechRunner } from "./result.js";
import * as snip from "./snippets.js";
import { onChange, roles, state } from "./state.js";

const $ = (id) => document.getElementById(id);
const MAX_CHARS = 4096;

function insertTag(name) {
  const area = $("dlg-text");
  const tag = `<role:${name}> `;
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  const before = area.value.slice(0, start);
  const sep = before && !/\s$/.test(before) ? "\n" : "";
  area.value = before + sep + tag + area.value.slice(end);
  const pos = start + sep.length + tag.length;
  area.focus();
  area.setSelectionRange(pos, pos);
  updateCount();
}

function renderChips() {
  const box = $("dlg-chips");
  box.textContent = "";
  for (const v of state.voices) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `chip ${v.kind === "role" ? "role" : "builtin"}`;
    b.dataset.voice = v.id;
    b.textContent = `<role:${v.id}>`;
    b.title = v.description || v.name || v.id;
    b.addEventListener("click", () => insertTag(v.id));
    box.appendChild(b);
  }
  const area = $("dlg-text");
  if (!area.value.trim() && state.voices.length) {
    const all = roles(); // roles without a clip first: they speak on every engine
    const rs = [...all.filter((r) => !r.preview_url), ...all.filter((r) => r.preview_url)].map((r) => r.id);
    const names = rs.length >= 2 ? rs.slice(0, 2) : [state.voices[0].id, (state.voices[1] || state.voices[0]).id];
    area.value = `<role:${names[0]}> Good evening, and welcome aboard the night train to the coast.\n`
      + `<role:${names[1]}> Thank you. How long until we arrive?\n`
      + `<role:${names[0]}> About two hours, if the weather holds.`;
    updateCount();
  }
}

function updateCount() {
  $("dlg-count").textContent = t("speak.count", { n: $("dlg-text").value.length, max: MAX_CHARS });
}

export function initDialogue() {
  const runner = new SpeechRunner({
    go: $("dlg-go"), stop: $("dlg-stop"), status: $("dlg-status"), error: $("dlg-error"), host: $("dlg-result"),
    build: () => {
      const text = $("dlg-text").value;
      if (!text.trim()) throw new Error(t("dialogue.hint"));
      return {
        path: "/multi_speak",
        body: { text, response_format: $("dlg-format").value, stream: true },
        pythonLabel: "python (httpx)",
        snippets: (body) => {
          const opts = { auth: !!apiKey(), output: `dialogue.${body.response_format}` };
          return { curl: snip.curl(location.origin, "/multi_speak", body, opts), python: snip.httpxPython(location.origin, "/multi_speak", body, opts) };
        },
      };
    },
  });
  $("dlg-text").addEventListener("input", updateCount);
  onChange(renderChips);
  onLangChange(() => {
    updateCount();
    runner.retranslate();
  });
  updateCount();
  return runner;
}
