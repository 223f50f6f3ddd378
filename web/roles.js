// Roles tab: list the roles, play their reference clip, use one in Speak, edit its pronunciations,
// delete with confirmation.

import { api } from "./api.js";
import { t, onLangChange } from "./i18n.js";
import { lexiconEditor } from "./lexicon.js";
import { playReference, previewVoice } from "./preview.js";
import { showError } from "./result.js";
import { onChange, reloadVoices, roles } from "./state.js";

const $ = (id) => document.getElementById(id);

/** Ask with the page's own dialog; resolves true when the user confirms. */
export function confirmDialog(text) {
  const dlg = $("confirm-dialog");
  $("confirm-text").textContent = text;
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
    $("confirm-cancel").focus();
  });
}

function button(label, action, cls = "ghost") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.dataset.action = action;
  b.textContent = label;
  return b;
}

function render() {
  const list = $("roles-list");
  list.textContent = "";
  const items = roles();
  $("roles-empty").hidden = items.length > 0;
  $("roles-status").textContent = t("roles.count", { n: items.length });
  for (const r of items) {
    const li = document.createElement("li");
    li.className = "role";
    li.dataset.role = r.id;
    const head = document.createElement("div");
    head.className = "role-head";
    const name = document.createElement("strong");
    name.className = "role-name";
    name.textContent = r.name || r.id;
    const tag = document.createElement("span");
    tag.className = `tag ${r.preview_url ? "on" : ""}`;
    tag.textContent = r.preview_url ? t("roles.hasClip") : t("roles.noClip");
    head.append(name, tag);
    if (r.language) {
      const lang = document.createElement("span");
      lang.className = "tag";
      lang.textContent = r.language;
      head.append(lang);
    }
    const desc = document.createElement("p");
    desc.className = "muted small";
    desc.textContent = r.description || "";
    const actions = document.createElement("div");
    actions.className = "inline wrap";
    actions.append(
      button(r.preview_url ? t("roles.play") : t("roles.playVoice"), "play"),
      button(t("roles.use"), "use"),
      button(t("lexicon.open"), "lexicon"),
      button(t("roles.delete"), "delete", "danger ghost"),
    );
    li.append(head, desc, actions);
    list.appendChild(li);
  }
}

export function initRoles({ useVoice }) {
  $("roles-refresh").addEventListener("click", async () => {
    showError($("roles-error"), null);
    try {
      await reloadVoices();
    } catch (err) {
      showError($("roles-error"), err);
    }
  });
  $("roles-list").addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    const id = btn.closest("li").dataset.role;
    const role = roles().find((r) => r.id === id);
    if (!role) return;
    showError($("roles-error"), null);
    try {
      if (btn.dataset.action === "play") {
        btn.disabled = true;
        await (role.preview_url ? playReference(role) : previewVoice(role));
      } else if (btn.dataset.action === "use") {
        useVoice(id);
      } else if (btn.dataset.action === "lexicon") {
        const li = btn.closest("li");
        const open = li.querySelector(".lexicon");
        if (open) open.remove();
        else li.append(lexiconEditor(id));
      } else if (btn.dataset.action === "delete") {
        if (!(await confirmDialog(t("roles.confirm", { name: id })))) return;
        await api(`/v1/audio/voices/${encodeURIComponent(id)}`, { method: "DELETE" });
        await reloadVoices();
        $("roles-status").textContent = t("roles.deleted", { name: id });
      }
    } catch (err) {
      showError($("roles-error"), err);
    } finally {
      btn.disabled = false;
    }
  });
  onChange(render);
  onLangChange(render);
}
