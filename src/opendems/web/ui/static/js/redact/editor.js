// The editor's shared state, one object every part reads and changes, and the small helpers
// they all use (the frame shown, the size boxes are measured in, a message to the person).
import { boxAt } from "./plan.js";
import { showPage } from "./pdf.js";

export const ed = {
  root: null,
  apiBase: "",
  derivatives: "",
  media: null, // the video, photo or PDF page shown
  canvas: null, // the overlay the boxes are drawn on
  status: null,
  wave: null, // the sound's waveform
  isVideo: false,
  isPdf: false,
  page: 0, // the PDF page shown (the frame of a PDF's plan)
  plan: null,
  version: 0,
  selected: null, // a track id
  drawing: false, // the next drag on the frame draws a box
  rubber: null, // the box being drawn, in canvas pixels
  edit: null, // a box being moved or resized: {track, mode, start, orig, box, moved}
  previewing: false,
  waveDrag: null, // {x0, x1, moved} in CSS pixels
  mark: { start: null }, // the start of a part of the sound marked with [
};

/** Fill in the page's elements for the editor in ``root``. */
export function initEditor(root) {
  const item = root.dataset.item;
  ed.root = root;
  ed.apiBase = `/api/v1/evidence/${item}/redaction`;
  ed.derivatives = root.dataset.derivatives;
  ed.media = document.getElementById("redact-media");
  ed.canvas = document.getElementById("redact-overlay");
  ed.status = document.getElementById("redact-status");
  ed.wave = $("audio-wave");
  ed.isVideo = ed.media && ed.media.tagName === "VIDEO";
  ed.isPdf = root.dataset.kind === "pdf";
}

export const $ = (id) => document.getElementById(id);

export const say = (text, bad = false) => {
  ed.status.hidden = false;
  ed.status.textContent = text;
  ed.status.classList.toggle("error", bad);
};
export const fps = () => (ed.plan ? ed.plan.fps : Number(ed.root.dataset.fps) || 30);
export const frame = () => (ed.isVideo ? Math.round(ed.media.currentTime * fps()) : ed.page);
/** The size the boxes of a frame are measured in: the clip's, or the PDF page's in points. */
export const size = (f = frame()) => {
  const sizes = ed.isPdf && ed.plan && ed.plan.detections && ed.plan.detections.pages;
  return sizes && sizes[f] ? sizes[f] : [ed.plan.width, ed.plan.height];
};
export const pageCount = () => (ed.plan ? ed.plan.frame_count : Number(ed.root.dataset.pages) || 1);
export const trackById = (id) => ed.plan && ed.plan.tracks.find((t) => t.id === id);
export const duration = () => {
  if (ed.isVideo && Number.isFinite(ed.media.duration) && ed.media.duration > 0) return ed.media.duration;
  return ed.plan ? ed.plan.frame_count / ed.plan.fps : 0;
};
export const seekFrame = (f) => {
  if (ed.isVideo) { ed.media.pause(); ed.media.currentTime = Math.max(0, (f + 0.5) / fps()); }
  else if (ed.isPdf) showPage(f);
};
export const seekTime = (t) => { if (ed.isVideo) ed.media.currentTime = Math.min(Math.max(0, t), duration() || t); };
/** The box shown for a track now: the one being moved, else the plan's. */
export const shownBox = (t, f) => (ed.edit && ed.edit.track === t ? ed.edit.box : boxAt(t, f));

export function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function hiddenText(text) {
  const span = document.createElement("span");
  span.className = "visually-hidden";
  span.textContent = text;
  return span;
}
