// Waveform of a result on a canvas: min/max per pixel column, with a playback cursor.

function css(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Draw ``samples`` (Float32Array) on ``canvas``; ``progress`` in 0..1 shades what has played. */
export function drawWave(canvas, samples, progress = 0) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr)) || canvas.width;
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr)) || canvas.height;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const mid = height / 2;
  g.fillStyle = css("--wave-axis", "#d0d7de");
  g.fillRect(0, Math.floor(mid), width, Math.max(1, dpr));
  if (!samples || !samples.length) return;
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
  const scale = peak > 0 ? (mid * 0.92) / peak : 0;
  const per = samples.length / width;
  const played = Math.floor(progress * width);
  const on = css("--wave-played", "#0b6bcb");
  const off = css("--wave", "#7aa7d9");
  for (let x = 0; x < width; x++) {
    const a = Math.floor(x * per);
    const b = Math.max(a + 1, Math.floor((x + 1) * per));
    let lo = 0;
    let hi = 0;
    for (let i = a; i < b && i < samples.length; i++) {
      const s = samples[i];
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    g.fillStyle = x < played ? on : off;
    const top = mid - hi * scale;
    g.fillRect(x, top, 1, Math.max(1, (hi - lo) * scale));
  }
}
