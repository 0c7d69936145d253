// -- tracks: the table, selection, the keyframes of a drawn track ------------------------
import { $, ed, frame, hiddenText, say, seekFrame, trackById } from "./editor.js";
import { framesOf } from "./plan.js";
import { draw } from "./overlay.js";
import { thumbFor, thumbs } from "./thumbs.js";

const LABELS = {
  ssn: "SSN", phone: "phone", email: "e-mail", dob: "date of birth", term: "found word", name: "name",
  licence: "driver's licence", card: "card number", bank: "bank account", address: "street address",
  place: "place", plate: "licence plate", case: "case number",
};

function frameRange(t) {
  const keys = framesOf(t);
  return keys.length ? `${Math.min(...keys)}–${Math.max(...keys)}` : "";
}

/** What a track is, as a person reads it: the kind of data a PDF's search found, "drawn"... */
export function trackName(t) {
  if (!ed.isPdf) return t.id;
  if (t.kind === "manual") return "drawn";
  return LABELS[t.label] || t.label || t.kind;
}

/** Where a track is: frames of a clip, pages of a PDF (counted from 1). */
function trackPlace(t) {
  if (!ed.isPdf) return `${t.kind} · frames ${frameRange(t)}`;
  const pages = [...new Set(framesOf(t))].sort((a, b) => a - b).map((f) => f + 1);
  return `${pages.length > 1 ? "pages" : "page"} ${pages.join(", ")} · ${t.id}`;
}

function trackRow(t, options) {
  const row = document.createElement("tr");
  row.dataset.track = t.id;
  const include = document.createElement("input");
  include.type = "checkbox";
  include.checked = t.include;
  include.setAttribute("aria-label", ed.isPdf ? `Redact ${trackName(t)} (${t.id})` : `Redact ${t.id}`);
  include.addEventListener("change", () => { t.include = include.checked; draw(); });
  const reason = document.createElement("select");
  reason.setAttribute("aria-label", ed.isPdf ? `Reason for ${trackName(t)} (${t.id})` : `Reason for ${t.id}`);
  reason.append(options.content.cloneNode(true));
  reason.value = t.reason;
  reason.addEventListener("change", () => { t.reason = reason.value; });
  // The picture, the name, the frames it covers and the reason, stacked: the side column is narrow.
  const label = document.createElement("strong");
  label.textContent = trackName(t);
  const range = document.createElement("span");
  range.className = "track-frames muted";
  range.textContent = trackPlace(t);
  const text = document.createElement("span");
  text.className = "track-text";
  text.append(label, range, reason);
  const name = document.createElement("span");
  name.className = "track-name";
  name.append(thumbFor(t), text);
  const go = document.createElement("button");
  go.type = "button";
  go.className = "secondary";
  go.textContent = "Go to";
  go.setAttribute("aria-label", ed.isPdf ? `Go to the page of ${trackName(t)} (${t.id})`
    : `Go to the first frame of ${t.id}`);
  go.addEventListener("click", () => goToTrack(t));
  for (const c of [include, name, go]) {
    const td = document.createElement("td");
    td.append(c);
    row.append(td);
  }
  row.addEventListener("click", (e) => {
    if (!e.target.closest("input, select, button")) select(t.id);
  });
  return row;
}

export function listTracks() {
  const body = document.querySelector("#tracks tbody");
  const options = $("reason-options");
  body.replaceChildren(...ed.plan.tracks.map((t) => trackRow(t, options)));
  for (const id of thumbs.keys()) if (!trackById(id)) thumbs.delete(id);
  markSelected();
}

export function markSelected() {
  for (const row of document.querySelectorAll("#tracks tbody tr")) {
    row.classList.toggle("selected", row.dataset.track === ed.selected);
  }
  listKeyframes();
}

export function select(id) {
  ed.selected = id;
  markSelected();
  draw();
}

function goToTrack(t) {
  ed.selected = t.id;
  seekFrame(Math.min(...framesOf(t)));
  markSelected();
  draw();
}

/** N and Shift+N: the start of the next (or previous) track from here. */
export function jumpTrack(direction) {
  if (!ed.plan || !ed.plan.tracks.length) return;
  const starts = ed.plan.tracks.map((t) => ({ t, f: Math.min(...framesOf(t)) }))
    .sort((a, b) => a.f - b.f || a.t.id.localeCompare(b.t.id));
  const now = frame();
  const here = starts.findIndex((s) => s.t.id === ed.selected && s.f === now); // at a start already
  let next;
  if (here >= 0) next = starts[here + direction];
  else if (direction > 0) next = starts.find((s) => s.f >= now);
  else next = [...starts].reverse().find((s) => s.f < now);
  if (!next) { say(direction > 0 ? "No track starts after this frame." : "No track starts before this frame."); return; }
  goToTrack(next.t);
  say(`${next.t.id} starts at frame ${next.f}.`);
}

// -- keyframes of the selected drawn track ---------------------------------------------

function listKeyframes() {
  const panel = $("keyframes");
  if (!panel) return;
  const t = trackById(ed.selected);
  panel.hidden = !t || t.kind !== "manual" || ed.isPdf;
  if (panel.hidden) return;
  $("keyframes-track").textContent = t.id;
  const items = Object.keys(t.keyframes).map(Number).sort((a, b) => a - b).map((f) => keyframeItem(t, f));
  $("keyframe-list").replaceChildren(...items);
}

function keyframeItem(t, f) {
  const li = document.createElement("li");
  li.dataset.frame = String(f);
  const go = document.createElement("button");
  go.type = "button";
  go.className = "link";
  go.append(hiddenText("Go to "), `frame ${f}`);
  go.addEventListener("click", () => { seekFrame(f); draw(); });
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove the keyframe at frame ${f}`);
  remove.addEventListener("click", () => removeKeyframe(t, f));
  li.append(go, " ", remove);
  return li;
}

function removeKeyframe(t, f) {
  delete t.keyframes[String(f)];
  if (!Object.keys(t.keyframes).length) {
    ed.plan.tracks.splice(ed.plan.tracks.indexOf(t), 1);
    ed.selected = null;
    say(`That was the last keyframe of ${t.id}: the box is gone.`);
  } else say(`Keyframe at frame ${f} of ${t.id} removed.`);
  listTracks();
  draw();
}

/** The frame range and picture of one track after its boxes changed. */
export function refreshTrack(t) {
  const row = document.querySelector(`#tracks tbody tr[data-track="${CSS.escape(t.id)}"]`);
  if (!row) { listTracks(); return; }
  row.querySelector(".track-frames").textContent = trackPlace(t);
  thumbFor(t);
  listKeyframes();
}

export function toggleInclude() {
  const t = trackById(ed.selected);
  if (!t) return;
  t.include = !t.include;
  const box = document.querySelector(`#tracks tbody tr[data-track="${CSS.escape(t.id)}"] input[type=checkbox]`);
  if (box) box.checked = t.include;
  say(`${t.id} ${t.include ? "will be covered" : "stays visible"}.`);
  draw();
}

export function removeSelected() {
  const added = (x) => x.kind === "manual" || (ed.isPdf && x.label === "term");
  const i = ed.plan ? ed.plan.tracks.findIndex((x) => x.id === ed.selected && added(x)) : -1;
  if (i < 0) {
    if (ed.isPdf && trackById(ed.selected)) say("A box the search found stays in the plan: untick it (I) to leave the words visible.", true);
    return;
  }
  ed.plan.tracks.splice(i, 1);
  ed.selected = null;
  listTracks();
  draw();
}
