// -- moving, resizing and drawing boxes on the frame ------------------------------------
import { ed, frame, say, size, trackById } from "./editor.js";
import { addTrack, boxAt, round1 } from "./plan.js";
import { corners, draw, HANDLE_PX, pad, scale, toPlan } from "./overlay.js";
import { listTracks, markSelected, refreshTrack, select, trackName } from "./tracks.js";
import { drawWave } from "./audio.js";

/** What is under the pointer: a corner of the selected box, else the topmost box. */
function hitTest(point) {
  const f = frame();
  const { sx, sy } = scale();
  const sel = trackById(ed.selected);
  const selBox = sel && boxAt(sel, f);
  if (selBox) {
    for (const c of corners(selBox)) {
      if (Math.abs(point[0] - c[0]) * sx <= HANDLE_PX && Math.abs(point[1] - c[1]) * sy <= HANDLE_PX) {
        return { track: sel, mode: c.name, box: selBox };
      }
    }
  }
  const inside = (t) => {
    const raw = boxAt(t, f);
    if (!raw) return null;
    const b = pad(raw);
    return point[0] >= b[0] && point[0] <= b[2] && point[1] >= b[1] && point[1] <= b[3] ? raw : null;
  };
  if (sel && inside(sel)) return { track: sel, mode: "move", box: inside(sel) };
  for (const t of [...ed.plan.tracks].reverse()) {
    const raw = inside(t);
    if (raw) return { track: t, mode: "move", box: raw };
  }
  return null;
}

const CURSORS = { move: "move", nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize" };

function clampBox(b) {
  const [width, height] = size();
  const x1 = Math.max(0, Math.min(b[0], b[2])), x2 = Math.min(width, Math.max(b[0], b[2]));
  const y1 = Math.max(0, Math.min(b[1], b[3])), y2 = Math.min(height, Math.max(b[1], b[3]));
  const small = ed.isPdf ? 1 : 2; // the smallest box: a PDF's boxes are in points
  const [left, top] = [Math.min(x1, width - small), Math.min(y1, height - small)];
  return [left, top, Math.max(x2, left + small), Math.max(y2, top + small)];
}

function movedBox(orig, dx, dy) {
  const [width, height] = size();
  const w = orig[2] - orig[0], h = orig[3] - orig[1];
  const x = Math.min(Math.max(0, orig[0] + dx), width - w);
  const y = Math.min(Math.max(0, orig[1] + dy), height - h);
  return [x, y, x + w, y + h];
}

function resizedBox(orig, mode, point) {
  const b = orig.slice();
  if (mode.includes("w")) b[0] = point[0]; else b[2] = point[0];
  if (mode.includes("n")) b[1] = point[1]; else b[3] = point[1];
  return clampBox(b);
}

/** A box changed by hand: a keyframe of a drawn track, this frame's box of a detected one. */
function commitBox(t, f, box) {
  const b = clampBox(box).map(round1);
  if (ed.isPdf) {
    t.boxes[String(f)] = b;
    say(`Box of ${trackName(t)} (${t.id}) on page ${f + 1} set.`);
  } else if (t.kind === "manual") {
    t.keyframes[String(f)] = b;
    say(`Keyframe at frame ${f} of ${t.id} set.`);
  } else {
    t.boxes = t.boxes || {};
    t.boxes[String(f)] = b;
    say(`Box of ${t.id} changed at frame ${f} only: a detected track has its own box in each frame.`);
  }
  refreshTrack(t);
  draw();
}

export function nudge(dx, dy) {
  const t = trackById(ed.selected);
  const raw = t && boxAt(t, frame());
  if (!raw) { say("Select a box on this frame first (click it).", true); return; }
  commitBox(t, frame(), movedBox(raw, dx, dy));
}

export function startDrawing() {
  if (!ed.plan) return;
  ed.drawing = true;
  if (ed.isVideo) ed.media.pause();
  ed.canvas.classList.add("drawing");
  ed.canvas.style.cursor = "";
  say(`Drag over the ${ed.isPdf ? "page" : "frame"} to draw the box (Escape: stop).`);
}

export function stopAll() {
  const busy = ed.drawing || ed.rubber || ed.edit || ed.waveDrag || ed.mark.start !== null;
  ed.drawing = false;
  ed.rubber = null;
  ed.edit = null;
  ed.waveDrag = null;
  ed.mark.start = null;
  ed.canvas?.classList.remove("drawing");
  if (!busy && ed.selected) { ed.selected = null; markSelected(); }
  say(busy ? "Stopped." : "Nothing selected.");
  draw();
  drawWave();
}

export function onPointerDown(e) {
  if (!ed.plan) return;
  if (ed.isVideo) ed.media.pause();
  const r = ed.canvas.getBoundingClientRect();
  if (ed.drawing) {
    const x = e.clientX - r.left, y = e.clientY - r.top;
    ed.rubber = { x0: x, y0: y, x1: x, y1: y };
    ed.canvas.setPointerCapture(e.pointerId);
    return;
  }
  const point = toPlan(e);
  const hit = hitTest(point);
  if (!hit) { if (ed.selected) select(null); return; }
  if (hit.track.id !== ed.selected) select(hit.track.id);
  ed.edit = { track: hit.track, mode: hit.mode, start: point, orig: hit.box.slice(), box: hit.box.slice(), moved: false };
  ed.canvas.setPointerCapture(e.pointerId);
}

export function onPointerMove(e) {
  if (!ed.plan) return;
  if (ed.rubber) {
    const r = ed.canvas.getBoundingClientRect();
    ed.rubber.x1 = e.clientX - r.left;
    ed.rubber.y1 = e.clientY - r.top;
    draw();
    return;
  }
  const point = toPlan(e);
  if (ed.edit) {
    const dx = point[0] - ed.edit.start[0], dy = point[1] - ed.edit.start[1];
    const { sx } = scale();
    if (!ed.edit.moved && Math.hypot(dx, dy) * sx < 3) return; // a click, not a drag
    ed.edit.moved = true;
    ed.edit.box = ed.edit.mode === "move" ? movedBox(ed.edit.orig, dx, dy) : resizedBox(ed.edit.orig, ed.edit.mode, point);
    draw();
    return;
  }
  if (!ed.drawing) {
    const hit = hitTest(point);
    ed.canvas.style.cursor = hit ? CURSORS[hit.mode] : "";
  }
}

export function onPointerUp() {
  if (ed.rubber) finishDrawing();
  else if (ed.edit) {
    const { track, box, moved } = ed.edit;
    ed.edit = null;
    if (moved) commitBox(track, frame(), box);
    else draw();
  }
}

function finishDrawing() {
  const { sx, sy } = scale();
  const ax = Math.min(ed.rubber.x0, ed.rubber.x1) / sx, ay = Math.min(ed.rubber.y0, ed.rubber.y1) / sy;
  const bx = Math.max(ed.rubber.x0, ed.rubber.x1) / sx, by = Math.max(ed.rubber.y0, ed.rubber.y1) / sy;
  ed.rubber = null;
  ed.drawing = false;
  ed.canvas.classList.remove("drawing");
  const tiny = ed.isPdf ? (bx - ax) * sx < 3 || (by - ay) * sy < 3 : bx - ax < 2 || by - ay < 2;
  if (tiny) { draw(); return; } // a click, not a box
  const box = clampBox([ax, ay, bx, by]).map(round1);
  if (ed.isPdf) { // a box of its own, on this page only
    const track = addTrack("manual", { kind: "manual", include: true, reason: "pii", boxes: { [String(ed.page)]: box } });
    ed.selected = track.id;
    say(`Box drawn on page ${ed.page + 1}: it is solid black in the redacted copy.`);
    listTracks();
    draw();
    return;
  }
  let track = ed.plan.tracks.find((t) => t.id === ed.selected && t.kind === "manual");
  if (!track) {
    const taken = new Set(ed.plan.tracks.map((t) => t.id));
    let n = 1;
    while (taken.has(`manual-${n}`)) n++;
    track = { id: `manual-${n}`, kind: "manual", include: true, reason: "pii", keyframes: {} };
    ed.plan.tracks.push(track);
    ed.selected = track.id;
  }
  track.keyframes[String(frame())] = box;
  say(`Keyframe at frame ${frame()} for ${track.id}: draw it again (B) on another frame to make it follow.`);
  listTracks();
  draw();
}
