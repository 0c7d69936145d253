// The plan's boxes: rounding, a track's frames, its box at a frame (between keyframes),
// a box as padded, and a new track's free id.
import { ed } from "./editor.js";

export const round1 = (v) => Math.round(v * 10) / 10;
export const round2 = (v) => Math.round(v * 100) / 100;
export const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
export const framesOf = (t) => [...Object.keys(t.boxes || {}), ...Object.keys(t.keyframes || {})].map(Number);

/** A track's box at a frame: its own box there, or one on the line between two keyframes. */
export function boxAt(track, f) {
  if (track.boxes && track.boxes[String(f)]) return track.boxes[String(f)];
  const keys = Object.keys(track.keyframes || {}).map(Number).sort((a, b) => a - b);
  if (!keys.length || f < keys[0] || f > keys[keys.length - 1]) return null;
  if (track.keyframes[String(f)]) return track.keyframes[String(f)];
  const after = keys.find((k) => k > f);
  const before = keys.filter((k) => k < f).pop();
  const t = (f - before) / (after - before);
  const a = track.keyframes[String(before)], b = track.keyframes[String(after)];
  return a.map((v, i) => v + (b[i] - v) * t);
}

/** A box as it will be covered: grown by the plan's padding, within the frame (of ``size``). */
export function padded(plan, raw, size = [plan.width, plan.height]) {
  const dx = (raw[2] - raw[0]) * plan.padding / 2, dy = (raw[3] - raw[1]) * plan.padding / 2;
  return [Math.max(0, raw[0] - dx), Math.max(0, raw[1] - dy),
    Math.min(size[0], raw[2] + dx), Math.min(size[1], raw[3] + dy)];
}

/** A new track with the first free id of the form ``<prefix>-<n>``. */
export function addTrack(prefix, fields) {
  const taken = new Set(ed.plan.tracks.map((t) => t.id));
  let n = 1;
  while (taken.has(`${prefix}-${n}`)) n++;
  const track = { id: `${prefix}-${n}`, ...fields };
  ed.plan.tracks.push(track);
  return track;
}
