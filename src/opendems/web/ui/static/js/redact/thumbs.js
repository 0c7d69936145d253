// The picture of each face in the tracks table: one thumbnail at a time, from a second video.
import { ed, fps } from "./editor.js";
import { area, padded } from "./plan.js";

const THUMB_PX = 64; // the face pictures in the tracks table (drawn at 48 CSS px)

export const thumbs = new Map(); // track id -> {key, pick, canvas}
const thumbQueue = [];
let thumbVideo = null;
let thumbBusy = false;

/** The frame where the track's box is largest (where the face is best seen). */
function bestFrame(t) {
  const boxes = { ...(t.keyframes || {}), ...(t.boxes || {}) };
  let best = null;
  for (const [f, b] of Object.entries(boxes)) {
    if (!best || area(b) > area(best.box)) best = { frame: Number(f), box: b };
  }
  return best;
}

export function thumbFor(t) {
  if (ed.isPdf) return ""; // a PDF's rows name what was found instead
  let entry = thumbs.get(t.id);
  if (!entry) {
    const c = document.createElement("canvas");
    c.className = "thumb";
    c.width = c.height = THUMB_PX;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", `${t.id}: picture loading`);
    entry = { key: null, pick: null, canvas: c };
    thumbs.set(t.id, entry);
  }
  const pick = bestFrame(t);
  const key = pick ? `${pick.frame}:${pick.box.join(",")}` : "";
  if (pick && entry.key !== key) {
    entry.key = key;
    entry.pick = pick;
    entry.id = t.id;
    if (!thumbQueue.includes(entry)) thumbQueue.push(entry);
    makeThumbs();
  }
  return entry.canvas;
}

/** The second video the pictures are taken from (the one on screen stays where it is). */
function thumbSource() {
  if (!ed.isVideo) return Promise.resolve(ed.media);
  if (!thumbVideo) {
    thumbVideo = document.createElement("video");
    thumbVideo.muted = true;
    thumbVideo.preload = "auto";
    thumbVideo.hidden = true;
    thumbVideo.setAttribute("aria-hidden", "true");
    thumbVideo.src = ed.media.currentSrc || ed.media.src;
    ed.root.append(thumbVideo);
  }
  if (thumbVideo.readyState >= 2) return Promise.resolve(thumbVideo);
  return new Promise((resolve) => thumbVideo.addEventListener("loadeddata", () => resolve(thumbVideo), { once: true }));
}

function seekThumbVideo(video, f) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); video.removeEventListener("seeked", done); resolve(); };
    const timer = setTimeout(done, 3000);
    video.addEventListener("seeked", done);
    video.currentTime = (f + 0.5) / fps();
  });
}

function imageReady() {
  if (ed.media.complete && ed.media.naturalWidth) return Promise.resolve();
  return new Promise((resolve) => ed.media.addEventListener("load", resolve, { once: true }));
}

/** One thumbnail at a time: seek the second video to the track's best frame and crop. */
async function makeThumbs() {
  if (thumbBusy || !ed.media) return;
  thumbBusy = true;
  try {
    while (thumbQueue.length) {
      const entry = thumbQueue.shift();
      const f = entry.pick.frame;
      const source = await thumbSource();
      if (ed.isVideo) await seekThumbVideo(source, f);
      else await imageReady();
      if (entry.pick.frame !== f) continue; // moved to another frame meanwhile: queued again
      crop(entry.canvas, source, entry.pick.box);
      entry.canvas.dataset.ready = "1";
      entry.canvas.setAttribute("aria-label", `${entry.id} at frame ${f}`);
    }
  } finally {
    thumbBusy = false;
  }
}

/** A square around the padded box, from the source's own pixels. */
function crop(target, source, box) {
  const nw = source.videoWidth || source.naturalWidth, nh = source.videoHeight || source.naturalHeight;
  const kx = nw / ed.plan.width, ky = nh / ed.plan.height;
  const b = padded(ed.plan, box);
  const side = Math.max((b[2] - b[0]) * kx, (b[3] - b[1]) * ky);
  const cx = (b[0] + b[2]) / 2 * kx, cy = (b[1] + b[3]) / 2 * ky;
  const ctx = target.getContext("2d");
  ctx.fillStyle = "#000000";
  ctx.fillRect(0, 0, target.width, target.height);
  ctx.drawImage(source, cx - side / 2, cy - side / 2, side, side, 0, 0, target.width, target.height);
}
