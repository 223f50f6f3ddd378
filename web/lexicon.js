// Pronunciation editor of a role (Roles tab): its lexicon entries listed, added, tried and deleted.
// Entries are stored with the role (GET/PUT/POST /roles/{name}/lexicon, DELETE .../{word}); "Try"
// speaks a sample with the unsaved entry as the request's `pronunciations`, and shows the phonemes
// the engine says for the word before and after it (engines that take phonemes).

import { api } from "./api.js";
import { t } from "./i18n.js";
import { showError } from "./result.js";

const path = (role) => `/roles/${encodeURIComponent(role)}/lexicon`;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function entryFrom(form) {
  const entry = { word: form.word.value.trim() };
  const ipa = form.ipa.value.trim().replace(/^\/|\/$/g, "");
  const respelling = form.respelling.value.trim();
  if (ipa) entry.ipa = ipa;
  if (respelling) entry.respelling = respelling;
  return entry;
}

async function phonemes(role, word, pronunciations) {
  try {
    const res = await api("/v1/audio/phonemize", { json: { input: word, voice: role, pronunciations } });
    return res.phonemes;
  } catch {
    return null; // the engine does not take phonemes: nothing to show
  }
}

/** The editor for ``role``: a table of its entries and a form to add or try one. */
export function lexiconEditor(role) {
  const box = el("div", { className: "lexicon" });
  box.dataset.lexicon = role;
  const error = el("div", { className: "error-box", hidden: true });
  error.setAttribute("role", "alert");
  const rows = el("tbody");
  const table = el("table", { className: "lexicon-table" },
    el("thead", {}, el("tr", {}, ...["lexicon.word", "lexicon.ipa", "lexicon.respelling", ""].map(
      (k) => el("th", { textContent: k ? t(k) : "" })))),
    rows);
  const empty = el("p", { className: "muted small", textContent: t("lexicon.empty") });
  const form = el("form", { className: "inline wrap lexicon-form" },
    el("input", { name: "word", placeholder: t("lexicon.word"), maxLength: 100, required: true }),
    el("input", { name: "ipa", placeholder: t("lexicon.ipaHint"), maxLength: 200 }),
    el("input", { name: "respelling", placeholder: t("lexicon.respelling"), maxLength: 200 }),
    el("button", { type: "button", className: "ghost", textContent: t("lexicon.try") }),
    el("button", { type: "submit", className: "primary", textContent: t("lexicon.add") }));
  const [tryButton] = form.querySelectorAll("button[type=button]");
  tryButton.dataset.action = "try";
  const heard = el("p", { className: "muted small lexicon-heard" });
  const player = el("audio", { className: "lexicon-audio", controls: true, hidden: true });
  box.append(table, empty, form, heard, player, error);

  function show(entries) {
    rows.textContent = "";
    empty.hidden = entries.length > 0;
    for (const e of entries) {
      const del = el("button", { type: "button", className: "danger ghost", textContent: t("roles.delete") });
      del.dataset.word = e.word;
      const tr = el("tr", {}, el("td", { textContent: e.word }), el("td", { textContent: e.ipa ? `/${e.ipa}/` : "" }),
        el("td", { textContent: e.respelling || "" }), el("td", {}, del));
      tr.dataset.word = e.word;
      rows.append(tr);
    }
  }

  async function run(action) {
    showError(error, null);
    try {
      await action();
    } catch (err) {
      showError(error, err);
    }
  }

  rows.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-word]");
    if (btn) run(async () => show((await api(`${path(role)}/${encodeURIComponent(btn.dataset.word)}`,
      { method: "DELETE" })).entries));
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(async () => {
      show((await api(path(role), { json: entryFrom(form) })).entries);
      form.reset();
    });
  });
  tryButton.addEventListener("click", () => run(async () => {
    const entry = entryFrom(form);
    if (!entry.word) return;
    tryButton.disabled = true;
    try {
      const res = await api("/speak", {
        json: { name: role, text: entry.word, pronunciations: [entry], response_format: "wav" }, raw: true });
      player.src = URL.createObjectURL(await res.blob());
      player.hidden = false;
      player.dataset.ready = "";
      player.onloadedmetadata = () => { player.dataset.ready = "1"; };
      player.play().catch(() => {});
      const [before, after] = await Promise.all([phonemes(role, entry.word), phonemes(role, entry.word, [entry])]);
      heard.textContent = before === null ? "" : t("lexicon.heard", { before, after });
    } finally {
      tryButton.disabled = false;
    }
  }));
  run(async () => show((await api(path(role))).entries));
  return box;
}
