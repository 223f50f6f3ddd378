// What the page knows about the server: /server_info and the voice list, with change listeners.

import { api } from "./api.js";

export const state = {
  info: null, // GET /server_info
  voices: [], // GET /v1/audio/voices -> data
  listeners: [],
};

export function onChange(fn) {
  state.listeners.push(fn);
}

function emit() {
  for (const fn of state.listeners) fn(state);
}

export function capabilities() {
  return (state.info && state.info.capabilities) || [];
}

export function engineName() {
  return (state.info && state.info.engine) || "tts-1";
}

export const builtins = () => state.voices.filter((v) => v.kind !== "role");
export const roles = () => state.voices.filter((v) => v.kind === "role");
export const voiceById = (id) => state.voices.find((v) => v.id === id);

/** Reload server info and voices; throws the ApiError (401 included) of the first failing call. */
export async function reload() {
  const [info, voices] = await Promise.all([api("/server_info"), api("/v1/audio/voices")]);
  state.info = info;
  state.voices = voices.data || voices.voices || [];
  emit();
}

/** Reload only the voices (after a role was added or deleted). */
export async function reloadVoices() {
  const voices = await api("/v1/audio/voices");
  state.voices = voices.data || voices.voices || [];
  emit();
}
