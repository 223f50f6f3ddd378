// Short voice previews: a role's reference clip, or a short synthesis for other voices.

import { api } from "./api.js";
import { engineName } from "./state.js";

let player = null;
let lastUrl = null;

function previewAudio() {
  if (!player) {
    player = document.createElement("audio");
    player.id = "voice-preview-audio";
    player.hidden = true;
    document.body.appendChild(player);
  }
  return player;
}

async function play(blob) {
  const audio = previewAudio();
  if (lastUrl) URL.revokeObjectURL(lastUrl);
  lastUrl = URL.createObjectURL(blob);
  audio.src = lastUrl;
  audio.dataset.ready = "";
  await new Promise((resolve, reject) => {
    audio.onloadedmetadata = resolve;
    audio.onerror = () => reject(new Error("the browser could not play this audio"));
  });
  audio.dataset.ready = "1";
  await audio.play().catch(() => {});
}

/** Play the reference clip of a role (``voice.preview_url``), fetched with the API key. */
export async function playReference(voice) {
  const res = await api(voice.preview_url, { raw: true });
  await play(await res.blob());
}

/** Preview ``voice``: its reference clip when it has one, else a short synthesis. */
export async function previewVoice(voice) {
  if (voice.preview_url) return playReference(voice);
  const name = voice.name || voice.id;
  // the sentence follows the voice's language, not the page's: an English voice cannot read Chinese
  const input = (voice.language || "").toLowerCase().startsWith("zh") ? `你好，我是${name}。` : `Hello, this is ${name}.`;
  const res = await api("/v1/audio/speech", {
    json: {
      model: engineName(), voice: voice.id, input,
      response_format: "mp3", stream: false,
    },
    raw: true,
  });
  await play(await res.blob());
}

export function stopPreview() {
  if (player) player.pause();
}
