// -- the overlay: boxes, handles, the effect previewed ------------------------------------
import { $, ed, frame, pageCount, say, shownBox, size, trackById } from "./editor.js";
import { padded } from "./plan.js";
import { trackName } from "./tracks.js";

const BLUR_CELLS = 8; // as the renderer: a blurred box keeps this many cells across
const PIXEL_CELLS = 12;
export const HANDLE_PX = 7; // half the size of a corner handle on the screen

export const scale = () => {
  const r = ed.canvas.getBoundingClientRect();
  const [w, h] = size();
  return { sx: r.width / w, sy: r.height / h, rect: r };
};
export const pad = (raw) => padded(ed.plan, raw, size());
export const toPlan = (event) => {
  const { sx, sy, rect } = scale();
  return [(event.clientX - rect.left) / sx, (event.clientY - rect.top) / sy];
};

export function draw() {
  if (!ed.canvas || !ed.media || !ed.plan) return;
  // Drawn in CSS pixels, on a canvas of the screen's own pixels (sharp on a HiDPI screen).
  const rect = ed.media.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  ed.canvas.width = Math.round(rect.width * ratio);
  ed.canvas.height = Math.round(rect.height * ratio);
  const ctx = ed.canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, rect.width, rect.height);
  const f = frame();
  $("frame-label")?.replaceChildren(ed.isPdf ? `page ${f + 1} of ${pageCount()}` : `frame ${f}`);
  const whole = ed.plan.fail_secure.enabled && ed.plan.fail_secure.frames.includes(f);
  if (ed.previewing && !ed.isPdf) drawPreview(ctx, f, whole, rect);
  else if (whole) {
    ctx.fillStyle = "rgba(200, 0, 0, 0.25)";
    ctx.fillRect(0, 0, rect.width, rect.height);
  }
  for (const t of ed.plan.tracks) drawTrack(ctx, t, f);
  drawHandles(ctx, f);
  if (ed.rubber) {
    ctx.setLineDash([4, 2]);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffad1f";
    ctx.strokeRect(ed.rubber.x0, ed.rubber.y0, ed.rubber.x1 - ed.rubber.x0, ed.rubber.y1 - ed.rubber.y0);
  }
  ed.canvas.dataset.frame = String(f);
  ed.canvas.dataset.preview = ed.previewing ? "on" : "off";
}

function drawTrack(ctx, t, f) {
  const raw = shownBox(t, f);
  if (!raw) return;
  const { sx, sy } = scale();
  const b = pad(raw);
  const [x, y, w, h] = [b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy];
  if (ed.isPdf) { drawPageBox(ctx, t, x, y, w, h); return; }
  if (ed.previewing && t.include && t.id !== ed.selected) return; // the effect shows it already
  ctx.lineWidth = t.id === ed.selected ? 3 : 2;
  ctx.setLineDash(t.include ? [] : [6, 4]);
  ctx.strokeStyle = t.include ? "#e0245e" : "#1d9bf0";
  ctx.strokeRect(x, y, w, h);
  if (t.include && !ed.previewing) {
    ctx.fillStyle = "rgba(224, 36, 94, 0.25)";
    ctx.fillRect(x, y, w, h);
  }
  ctx.fillStyle = ctx.strokeStyle;
  ctx.font = "12px sans-serif";
  ctx.fillText(t.id, x + 2, Math.max(12, y - 3));
}

/** A PDF's box: solid black as it will be rendered (shaded when seen through, and while
 * selected, so that what lies under it can be read), outlined and dashed when excluded. */
function drawPageBox(ctx, t, x, y, w, h) {
  ctx.setLineDash(t.include ? [] : [6, 4]);
  ctx.lineWidth = t.id === ed.selected ? 3 : 2;
  if (t.include && !ed.previewing && t.id !== ed.selected) {
    ctx.fillStyle = "#000000";
    ctx.fillRect(x, y, w, h);
    return;
  }
  if (t.include) {
    ctx.fillStyle = "rgba(0, 0, 0, 0.35)";
    ctx.fillRect(x, y, w, h);
  }
  ctx.strokeStyle = t.include ? "#e0245e" : "#1d9bf0";
  ctx.strokeRect(x, y, w, h);
  if (t.id === ed.selected) {
    ctx.fillStyle = ctx.strokeStyle;
    ctx.font = "12px sans-serif";
    ctx.fillText(trackName(t), x + 2, Math.max(12, y - 3));
  }
}

/** The selected track's own box (before padding) with a handle at each corner. */
function drawHandles(ctx, f) {
  const t = trackById(ed.selected);
  const raw = t && shownBox(t, f);
  if (!raw) return;
  const { sx, sy } = scale();
  ctx.setLineDash([3, 3]);
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#ffffff";
  ctx.strokeRect(raw[0] * sx, raw[1] * sy, (raw[2] - raw[0]) * sx, (raw[3] - raw[1]) * sy);
  ctx.setLineDash([]);
  for (const [cx, cy] of corners(raw)) {
    ctx.fillStyle = "#ffad1f";
    ctx.fillRect(cx * sx - HANDLE_PX / 2 - 1, cy * sy - HANDLE_PX / 2 - 1, HANDLE_PX + 2, HANDLE_PX + 2);
    ctx.strokeStyle = "#000000";
    ctx.strokeRect(cx * sx - HANDLE_PX / 2 - 1, cy * sy - HANDLE_PX / 2 - 1, HANDLE_PX + 2, HANDLE_PX + 2);
  }
}

export const corners = (b) => [[b[0], b[1], "nw"], [b[2], b[1], "ne"], [b[0], b[3], "sw"], [b[2], b[3], "se"]]
  .map(([x, y, name]) => Object.assign([x, y], { name }));

/** The current frame with the effect applied inside each included box, as it will render. */
function drawPreview(ctx, f, whole, rect) {
  if (ed.isVideo && ed.media.readyState < 2) return;
  ctx.drawImage(ed.media, 0, 0, rect.width, rect.height);
  if (whole) {
    cover(ctx, [0, 0, ...size()], ed.plan.effect);
    return;
  }
  for (const t of ed.plan.tracks) {
    const raw = t.include && shownBox(t, f);
    if (raw) cover(ctx, pad(raw), t.effect || ed.plan.effect);
  }
}

function cover(ctx, box, effect) {
  const { sx, sy } = scale();
  const [x, y, w, h] = [box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy];
  if (w < 1 || h < 1) return;
  if (effect === "box") {
    ctx.fillStyle = "#000000";
    ctx.fillRect(x, y, w, h);
    return;
  }
  // Shrink the box's pixels to a few cells, then grow them back: smoothly for blur,
  // as squares for pixelate (the renderer does the same on the clip's own pixels).
  const cells = effect === "pixelate" ? PIXEL_CELLS : BLUR_CELLS;
  const long = Math.max(w, h);
  const small = document.createElement("canvas");
  small.width = Math.max(1, Math.round(w * cells / long));
  small.height = Math.max(1, Math.round(h * cells / long));
  const natural = [ed.media.videoWidth || ed.media.naturalWidth, ed.media.videoHeight || ed.media.naturalHeight];
  const [kx, ky] = [natural[0] / ed.plan.width, natural[1] / ed.plan.height];
  const sctx = small.getContext("2d");
  sctx.imageSmoothingQuality = "high";
  sctx.drawImage(ed.media, box[0] * kx, box[1] * ky, (box[2] - box[0]) * kx, (box[3] - box[1]) * ky,
    0, 0, small.width, small.height);
  ctx.save();
  ctx.imageSmoothingEnabled = effect !== "pixelate";
  ctx.drawImage(small, x, y, w, h);
  ctx.restore();
}

export function setPreview(on) {
  ed.previewing = on;
  const button = $("preview");
  if (button) button.setAttribute("aria-pressed", String(on));
  if (ed.isPdf) {
    say(on ? "Seeing through the boxes: the words under them can be read. P: back to black boxes."
      : "Black boxes, as the redacted copy will have them.");
  } else {
    say(on ? `Preview: the frame as the render covers it (${ed.plan ? ed.plan.effect : "blur"}). P to go back to the boxes.`
      : "Boxes shown: the shaded areas will be covered.");
  }
  draw();
}
