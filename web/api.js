// HTTP helpers: the API key (localStorage, sent as a Bearer token) and OpenAI-style errors.

const KEY = "flashtts.apiKey";

export function apiKey() {
  return localStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  const v = (value || "").trim();
  if (v) localStorage.setItem(KEY, v);
  else localStorage.removeItem(KEY);
}

/** An error answer from the server: ``message`` is the body's ``error.message``. */
export class ApiError extends Error {
  constructor(status, message, { code = null, param = null, type = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = param;
    this.type = type;
  }
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function errorFrom(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const err = body && body.error;
  if (err && typeof err === "object" && err.message) {
    return new ApiError(res.status, err.message, err);
  }
  const detail = body && (body.detail || body.message);
  return new ApiError(res.status, typeof detail === "string" ? detail : `HTTP ${res.status} ${res.statusText}`);
}

/**
 * Call the API. ``json`` sends a JSON body, ``form`` a FormData; ``raw`` returns the Response
 * (for audio). Any non-2xx answer throws an ApiError; a 401 also fires the ``flashtts:auth`` event.
 */
export async function api(path, { method, json, form, signal, raw = false } = {}) {
  const headers = { ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const res = await fetch(path, { method: method || (body !== undefined ? "POST" : "GET"), headers, body, signal });
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401) window.dispatchEvent(new CustomEvent("flashtts:auth", { detail: err }));
    throw err;
  }
  window.dispatchEvent(new CustomEvent("flashtts:ok"));
  return raw ? res : res.json();
}

/** True when ``err`` is the AbortError of a stopped fetch. */
export function isAbort(err) {
  return err && (err.name === "AbortError" || err.code === 20);
}
