// "Copy as" snippets that repeat the exact request the page sent.

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** A Python literal for a JSON value (strings stay JSON-quoted, which Python accepts). */
function py(value, indent = "") {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => py(v, indent)).join(", ")}]`;
  const inner = indent + "    ";
  const items = Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${py(v, inner)},`);
  return `{\n${items.join("\n")}\n${indent}}`;
}

/** curl for a JSON POST; the key comes from $FLASHTTS_API_KEY so it is not pasted around. */
export function curl(origin, path, body, { auth = false, output = "speech.mp3" } = {}) {
  const lines = [`curl -sS -N ${origin}${path}`, `-H 'Content-Type: application/json'`];
  if (auth) lines.push(`-H "Authorization: Bearer $FLASHTTS_API_KEY"`);
  lines.push(`-d ${shellQuote(JSON.stringify(body))}`, `-o ${output}`);
  return lines.join(" \\\n  ");
}

const OPENAI_FIELDS = ["model", "voice", "input", "instructions", "response_format", "speed"];

/** openai-python for a /v1/audio/speech body; fields OpenAI lacks go in ``extra_body``. */
export function openaiPython(origin, body, { auth = false, output = "speech.mp3" } = {}) {
  const args = [];
  const extra = {};
  for (const [k, v] of Object.entries(body)) {
    if (OPENAI_FIELDS.includes(k)) args.push(`    ${k}=${py(v, "    ")},`);
    else extra[k] = v;
  }
  if (Object.keys(extra).length) args.push(`    extra_body=${py(extra, "    ")},`);
  const key = auth ? `os.environ["FLASHTTS_API_KEY"]` : `"unused"`;
  return [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${py(origin + "/v1")}, api_key=${key})`,
    "with client.audio.speech.with_streaming_response.create(",
    ...args,
    ") as response:",
    `    response.stream_to_file(${py(output)})`,
  ].join("\n");
}

/** Python (httpx, installed with openai) for any JSON POST, streamed to a file. */
export function httpxPython(origin, path, body, { auth = false, output = "speech.mp3" } = {}) {
  const headers = auth ? `{"Authorization": "Bearer " + os.environ["FLASHTTS_API_KEY"]}` : "{}";
  return [
    "import os",
    "",
    "import httpx",
    "",
    `body = ${py(body)}`,
    `with httpx.stream("POST", ${py(origin + path)}, json=body, headers=${headers}, timeout=None) as r:`,
    "    r.raise_for_status()",
    `    with open(${py(output)}, "wb") as f:`,
    "        for chunk in r.iter_bytes():",
    "            f.write(chunk)",
  ].join("\n");
}
