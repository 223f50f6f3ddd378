// Page entry: tabs, language toggle, API key and the 401 prompt, then each tab's module.

import { apiKey, setApiKey } from "./api.js";
import { initClone } from "./clone.js";
import { initDialogue } from "./dialogue.js";
import { currentLang, onLangChange, setLang, t } from "./i18n.js";
import { initRoles } from "./roles.js";
import { initSpeak, selectVoice } from "./speak.js";
import { audioContext } from "./player.js";
import { onChange, reload, state } from "./state.js";

const $ = (id) => document.getElementById(id);
const TABS = ["speak", "clone", "roles", "dialogue"];

function showTab(name) {
  if (!TABS.includes(name)) name = "speak";
  for (const tab of TABS) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

// ---- API key and the 401 prompt ----------------------------------------------------------
let authError = null;

function renderAuth() {
  const banner = $("auth-banner");
  banner.hidden = !authError;
  document.body.classList.toggle("needs-key", !!authError);
  if (!authError) return;
  $("auth-detail").textContent = apiKey() ? t("auth.invalid", { message: authError.message }) : t("auth.body");
}

function askForKey(err) {
  authError = err;
  renderAuth();
  const input = $("api-key");
  if (document.activeElement !== input) input.focus();
}

async function load() {
  try {
    await reload();
    authError = null;
    renderAuth();
    $("conn-banner").hidden = true;
  } catch (err) {
    if (err.status === 401) return; // the flashtts:auth listener shows the prompt
    const banner = $("conn-banner");
    banner.textContent = t("conn.down", { message: err.message });
    banner.hidden = false;
  }
}

async function health() {
  try {
    const h = await fetch("/health").then((r) => r.json());
    if (!state.info) $("engine-badge").textContent = h.engine || "";
  } catch {
    /* shown by load() */
  }
}

function renderInfo() {
  const info = state.info;
  if (!info) return;
  const caps = info.capabilities.join(", ") || "plain synthesis";
  $("engine-badge").textContent = info.engine;
  $("engine-badge").title = `${info.model} · ${caps}`;
  $("foot-info").textContent = `flashtts ${info.version} · ${info.engine} (${info.model}) · ${caps} · `;
}

function renderLangButton() {
  const b = $("lang-toggle");
  const zh = currentLang() === "zh";
  b.textContent = zh ? "English" : "中文";
  b.lang = zh ? "en" : "zh";
}

function init() {
  initSpeak();
  initClone();
  initRoles({ useVoice: (id) => { selectVoice(id); showTab("speak"); } });
  initDialogue();
  onChange(renderInfo);

  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  showTab(location.hash.slice(1));

  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey($("api-key").value);
    authError = null;
    renderAuth();
    load();
  });
  $("key-clear").addEventListener("click", () => {
    setApiKey("");
    $("api-key").value = "";
    load();
  });
  window.addEventListener("flashtts:auth", (e) => askForKey(e.detail));
  window.addEventListener("flashtts:ok", () => {
    if (authError) {
      authError = null;
      renderAuth();
    }
  });

  $("lang-toggle").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => {
    renderLangButton();
    renderAuth();
  });
  setLang(currentLang());
  health();
  load();
}

init();
window.flashtts = { state, audioContext }; // for the browser console (and the tests)
