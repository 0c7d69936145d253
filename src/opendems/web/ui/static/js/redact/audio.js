// -- sound: the waveform, parts to mute or bleep ----------------------------------------
import { $, cssVar, duration, ed, hiddenText, say, seekTime } from "./editor.js";
import { round2 } from "./plan.js";

let peaks = null, perSecond = 10, peakScale = 1000;

export function drawWave() {
  if (!ed.wave || ed.wave.hidden) return;
  const width = ed.wave.clientWidth || 300;
  const height = ed.wave.clientHeight || 72;
  const ratio = window.devicePixelRatio || 1;
  if (ed.wave.width !== Math.round(width * ratio) || ed.wave.height !== Math.round(height * ratio)) {
    ed.wave.width = Math.round(width * ratio);
    ed.wave.height = Math.round(height * ratio);
  }
  const ctx = ed.wave.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const end = duration() || (peaks ? peaks.length / perSecond : 0);
  if (!end) return;
  const x = (t) => (t / end) * width;
  for (const seg of ed.plan ? ed.plan.audio : []) {
    ctx.fillStyle = seg.mode === "bleep" ? "rgba(240, 165, 0, 0.45)" : "rgba(224, 36, 94, 0.35)";
    ctx.fillRect(x(seg.start_s), 0, Math.max(2, x(seg.end_s) - x(seg.start_s)), height);
  }
  drawPeaks(ctx, width, height, end);
  if (ed.waveDrag && ed.waveDrag.moved) {
    ctx.fillStyle = "rgba(240, 165, 0, 0.35)";
    ctx.fillRect(Math.min(ed.waveDrag.x0, ed.waveDrag.x1), 0, Math.abs(ed.waveDrag.x1 - ed.waveDrag.x0), height);
  }
  if (ed.mark.start !== null) {
    ctx.fillStyle = "#e0245e";
    ctx.fillRect(x(ed.mark.start) - 1, 0, 2, height);
  }
  ctx.fillStyle = cssVar("--focus", "#f0a500");
  ctx.fillRect(Math.min(width - 2, x(ed.isVideo ? ed.media.currentTime : 0)), 0, 2, height);
  ed.wave.dataset.drawn = String(peaks ? peaks.length : 0);
}

function drawPeaks(ctx, width, height, end) {
  const mid = height / 2;
  ctx.fillStyle = cssVar("--muted", "#4f5f6f");
  if (!peaks || !peaks.length) {
    ctx.fillRect(0, mid, width, 1);
    return;
  }
  const shown = Math.min(peaks.length, Math.ceil(end * perSecond)); // the peaks over the clip
  for (let px = 0; px < width; px++) {
    const from = Math.floor((px / width) * shown);
    const to = Math.max(from + 1, Math.floor(((px + 1) / width) * shown));
    let top = 0;
    for (let i = from; i < to && i < peaks.length; i++) top = Math.max(top, peaks[i]);
    const h = Math.max(1, (top / peakScale) * (height - 4));
    ctx.fillRect(px, mid - h / 2, 1, h);
  }
}

export function loadWave() {
  if (!ed.wave || !ed.wave.dataset.waveform) { drawWave(); return; }
  fetch(ed.wave.dataset.waveform, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
    .then((data) => {
      peaks = data.peaks || [];
      perSecond = data.per_second || 10;
      peakScale = data.scale || 1000;
      drawWave();
    })
    .catch(() => drawWave());
}

const waveTime = (px) => (px / (ed.wave.clientWidth || 1)) * duration();

function addSegment(start, end) {
  if (!ed.plan) return;
  const mode = $("audio-mode")?.value || "mute";
  ed.plan.audio.push({ start_s: round2(start), end_s: round2(end), mode, reason: "pii" });
  ed.plan.audio.sort((a, b) => a.start_s - b.start_s);
  say(`Sound from ${start.toFixed(2)} s to ${end.toFixed(2)} s will be ${mode === "bleep" ? "bleeped" : "muted"}.`);
  listAudio();
}

// -- suggestions: personal details said in the recording (from its transcript) --
export function findSpoken() {
  const list = $("spoken-pii");
  const button = $("find-spoken");
  button.disabled = true;
  say("Looking for names, numbers and addresses in the transcript…");
  fetch(`${ed.apiBase}/spoken-pii`, { credentials: "same-origin" })
    .then((r) => r.json().then((body) => (r.ok ? body : Promise.reject(new Error(body.detail || r.statusText)))))
    .then((found) => {
      list.replaceChildren(...found.map(suggestionItem));
      list.dataset.count = String(found.length);
      say(found.length ? `${found.length} found: accept each to mute it, or dismiss it.` : "No personal details were found in the transcript.");
    })
    .catch((e) => say(`The transcript could not be searched: ${e.message}`, true))
    .finally(() => { button.disabled = false; });
}

/** A stretch of the sound, as a button that goes to its start: [the button, its words]. */
function goTo(part) {
  const span = `${part.start_s.toFixed(2)} s – ${part.end_s.toFixed(2)} s`;
  const go = document.createElement("button");
  go.type = "button";
  go.className = "link";
  go.append(hiddenText("Go to "), span);
  go.addEventListener("click", () => seekTime(part.start_s));
  return [go, span];
}

function suggestionItem(f) {
  const li = document.createElement("li");
  li.className = "suggestion";
  const [go, span] = goTo(f);
  const what = document.createElement("span");
  what.textContent = ` ${f.label}: “${f.text}” `;
  const accept = document.createElement("button");
  accept.type = "button";
  accept.textContent = "Mute";
  accept.setAttribute("aria-label", `Mute the ${f.label} said from ${span}`);
  accept.addEventListener("click", () => { addSegment(f.start_s, f.end_s); li.remove(); });
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "secondary";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-label", `Dismiss the ${f.label} from ${span} (leave it heard)`);
  dismiss.addEventListener("click", () => { li.remove(); say(`Left as it is: the ${f.label} at ${span}.`); });
  li.append(go, what, accept, " ", dismiss);
  return li;
}

export function onWaveDown(e) {
  const r = ed.wave.getBoundingClientRect();
  ed.waveDrag = { x0: e.clientX - r.left, x1: e.clientX - r.left, moved: false };
  ed.wave.setPointerCapture(e.pointerId);
}

export function onWaveMove(e) {
  if (!ed.waveDrag) return;
  const r = ed.wave.getBoundingClientRect();
  ed.waveDrag.x1 = Math.min(Math.max(0, e.clientX - r.left), r.width);
  if (Math.abs(ed.waveDrag.x1 - ed.waveDrag.x0) > 4) ed.waveDrag.moved = true;
  drawWave();
}

export function onWaveUp() {
  if (!ed.waveDrag) return;
  const { x0, x1, moved } = ed.waveDrag;
  ed.waveDrag = null;
  if (moved) addSegment(waveTime(Math.min(x0, x1)), waveTime(Math.max(x0, x1)));
  else seekTime(waveTime(x0));
  drawWave();
}

export function listAudio() {
  const list = $("audio-segments");
  if (!list) return;
  list.replaceChildren(...ed.plan.audio.map((seg, i) => segmentItem(seg, i)));
  drawWave();
}

function segmentItem(seg, i) {
  const li = document.createElement("li");
  const [go, span] = goTo(seg);
  const mode = document.createElement("select");
  mode.setAttribute("aria-label", `What to do with the sound from ${span}`);
  for (const [value, text] of [["mute", "muted"], ["bleep", "bleeped"]]) mode.append(new Option(text, value));
  mode.value = seg.mode;
  mode.addEventListener("change", () => { seg.mode = mode.value; drawWave(); });
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove the part from ${span}`);
  remove.addEventListener("click", () => { ed.plan.audio.splice(i, 1); listAudio(); });
  li.append(go, " ", mode, " ", remove);
  return li;
}

export function markStart() {
  if (!ed.isVideo) return;
  ed.mark.start = ed.media.currentTime;
  say(`Sound marked from ${ed.mark.start.toFixed(2)} s… go to where it ends and press ].`);
  drawWave();
}

export function markEnd() {
  if (!ed.isVideo) return;
  if (ed.mark.start === null || ed.media.currentTime <= ed.mark.start) { say("Mark the start first, then an end after it.", true); return; }
  const start = ed.mark.start;
  ed.mark.start = null;
  addSegment(start, ed.media.currentTime);
}
