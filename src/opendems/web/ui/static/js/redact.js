// The redaction editor: the plan's boxes drawn over the paused video (or photo), tracks to
// include or exclude with a reason and a picture of each face, boxes moved and resized on
// the frame or drawn by hand as keyframes, a preview of the effect, the sound's waveform to
// mark parts to mute, and versions saved with a reason and rendered, with the progress of
// the detector and of each render -- all through the redaction API.
//
// A PDF is the same editor with a page for a frame: the server draws the page on show, the
// boxes are solid black (P: see through them), each track has its own box on each page
// (never keyframes), and the words a person looks for come back as boxes added as tracks.
import { api } from "./app.js";

const BLUR_CELLS = 8; // as the renderer: a blurred box keeps this many cells across
const PIXEL_CELLS = 12;
const HANDLE_PX = 7; // half the size of a corner handle on the screen
const THUMB_PX = 64; // the face pictures in the tracks table (drawn at 48 CSS px)
const POLL_MS = 1000;
const PAGE_MAX_PX = 2000; // the widest page picture the server draws
const LABELS = { ssn: "SSN", phone: "phone", email: "e-mail", dob: "date of birth", term: "found word" };

const root = document.getElementById("redactor");
if (root) setup(root);

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

const round1 = (v) => Math.round(v * 10) / 10;
const round2 = (v) => Math.round(v * 100) / 100;
const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
const framesOf = (t) => [...Object.keys(t.boxes || {}), ...Object.keys(t.keyframes || {})].map(Number);

/** A track's box at a frame: its own box there, or one on the line between two keyframes. */
function boxAt(track, f) {
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
function padded(plan, raw, size = [plan.width, plan.height]) {
  const dx = (raw[2] - raw[0]) * plan.padding / 2, dy = (raw[3] - raw[1]) * plan.padding / 2;
  return [Math.max(0, raw[0] - dx), Math.max(0, raw[1] - dy),
    Math.min(size[0], raw[2] + dx), Math.min(size[1], raw[3] + dy)];
}

function etaText(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

function setup(root) {
  const item = root.dataset.item;
  const apiBase = `/api/v1/evidence/${item}/redaction`;
  const derivatives = root.dataset.derivatives;
  const media = document.getElementById("redact-media");
  const canvas = document.getElementById("redact-overlay");
  const status = document.getElementById("redact-status");
  const isVideo = media && media.tagName === "VIDEO";
  const isPdf = root.dataset.kind === "pdf";
  const $ = (id) => document.getElementById(id);
  let page = 0; // the PDF page shown (the frame of a PDF's plan)
  let plan = null;
  let version = 0;
  let selected = null; // a track id
  let drawing = false; // the next drag on the frame draws a box
  let rubber = null; // the box being drawn, in canvas pixels
  let edit = null; // a box being moved or resized: {track, mode, start, orig, box, moved}
  let previewing = false;

  const say = (text, bad = false) => {
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("error", bad);
  };
  const fps = () => (plan ? plan.fps : Number(root.dataset.fps) || 30);
  const frame = () => (isVideo ? Math.round(media.currentTime * fps()) : page);
  /** The size the boxes of a frame are measured in: the clip's, or the PDF page's in points. */
  const size = (f = frame()) => {
    const sizes = isPdf && plan && plan.detections && plan.detections.pages;
    return sizes && sizes[f] ? sizes[f] : [plan.width, plan.height];
  };
  const pageCount = () => (plan ? plan.frame_count : Number(root.dataset.pages) || 1);
  const trackById = (id) => plan && plan.tracks.find((t) => t.id === id);
  const duration = () => {
    if (isVideo && Number.isFinite(media.duration) && media.duration > 0) return media.duration;
    return plan ? plan.frame_count / plan.fps : 0;
  };
  const seekFrame = (f) => {
    if (isVideo) { media.pause(); media.currentTime = Math.max(0, (f + 0.5) / fps()); }
    else if (isPdf) showPage(f);
  };
  const seekTime = (t) => { if (isVideo) media.currentTime = Math.min(Math.max(0, t), duration() || t); };
  /** The box shown for a track now: the one being moved, else the plan's. */
  const shownBox = (t, f) => (edit && edit.track === t ? edit.box : boxAt(t, f));

  // -- the overlay: boxes, handles, the effect previewed ------------------------------------

  const scale = () => {
    const r = canvas.getBoundingClientRect();
    const [w, h] = size();
    return { sx: r.width / w, sy: r.height / h, rect: r };
  };
  const pad = (raw) => padded(plan, raw, size());
  const toPlan = (event) => {
    const { sx, sy, rect } = scale();
    return [(event.clientX - rect.left) / sx, (event.clientY - rect.top) / sy];
  };

  function draw() {
    if (!canvas || !media || !plan) return;
    // Drawn in CSS pixels, on a canvas of the screen's own pixels (sharp on a HiDPI screen).
    const rect = media.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, rect.width, rect.height);
    const f = frame();
    $("frame-label")?.replaceChildren(isPdf ? `page ${f + 1} of ${pageCount()}` : `frame ${f}`);
    const whole = plan.fail_secure.enabled && plan.fail_secure.frames.includes(f);
    if (previewing && !isPdf) drawPreview(ctx, f, whole, rect);
    else if (whole) {
      ctx.fillStyle = "rgba(200, 0, 0, 0.25)";
      ctx.fillRect(0, 0, rect.width, rect.height);
    }
    for (const t of plan.tracks) drawTrack(ctx, t, f);
    drawHandles(ctx, f);
    if (rubber) {
      ctx.setLineDash([4, 2]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffad1f";
      ctx.strokeRect(rubber.x0, rubber.y0, rubber.x1 - rubber.x0, rubber.y1 - rubber.y0);
    }
    canvas.dataset.frame = String(f);
    canvas.dataset.preview = previewing ? "on" : "off";
  }

  function drawTrack(ctx, t, f) {
    const raw = shownBox(t, f);
    if (!raw) return;
    const { sx, sy } = scale();
    const b = pad(raw);
    const [x, y, w, h] = [b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy];
    if (isPdf) { drawPageBox(ctx, t, x, y, w, h); return; }
    if (previewing && t.include && t.id !== selected) return; // the effect shows it already
    ctx.lineWidth = t.id === selected ? 3 : 2;
    ctx.setLineDash(t.include ? [] : [6, 4]);
    ctx.strokeStyle = t.include ? "#e0245e" : "#1d9bf0";
    ctx.strokeRect(x, y, w, h);
    if (t.include && !previewing) {
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
    ctx.lineWidth = t.id === selected ? 3 : 2;
    if (t.include && !previewing && t.id !== selected) {
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
    if (t.id === selected) {
      ctx.fillStyle = ctx.strokeStyle;
      ctx.font = "12px sans-serif";
      ctx.fillText(trackName(t), x + 2, Math.max(12, y - 3));
    }
  }

  /** The selected track's own box (before padding) with a handle at each corner. */
  function drawHandles(ctx, f) {
    const t = trackById(selected);
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

  const corners = (b) => [[b[0], b[1], "nw"], [b[2], b[1], "ne"], [b[0], b[3], "sw"], [b[2], b[3], "se"]]
    .map(([x, y, name]) => Object.assign([x, y], { name }));

  /** The current frame with the effect applied inside each included box, as it will render. */
  function drawPreview(ctx, f, whole, rect) {
    if (isVideo && media.readyState < 2) return;
    ctx.drawImage(media, 0, 0, rect.width, rect.height);
    if (whole) {
      cover(ctx, [0, 0, ...size()], plan.effect);
      return;
    }
    for (const t of plan.tracks) {
      const raw = t.include && shownBox(t, f);
      if (raw) cover(ctx, pad(raw), t.effect || plan.effect);
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
    const natural = [media.videoWidth || media.naturalWidth, media.videoHeight || media.naturalHeight];
    const [kx, ky] = [natural[0] / plan.width, natural[1] / plan.height];
    const sctx = small.getContext("2d");
    sctx.imageSmoothingQuality = "high";
    sctx.drawImage(media, box[0] * kx, box[1] * ky, (box[2] - box[0]) * kx, (box[3] - box[1]) * ky,
      0, 0, small.width, small.height);
    ctx.save();
    ctx.imageSmoothingEnabled = effect !== "pixelate";
    ctx.drawImage(small, x, y, w, h);
    ctx.restore();
  }

  function setPreview(on) {
    previewing = on;
    const button = $("preview");
    if (button) button.setAttribute("aria-pressed", String(on));
    if (isPdf) {
      say(on ? "Seeing through the boxes: the words under them can be read. P: back to black boxes."
        : "Black boxes, as the redacted copy will have them.");
    } else {
      say(on ? `Preview: the frame as the render covers it (${plan ? plan.effect : "blur"}). P to go back to the boxes.`
        : "Boxes shown: the shaded areas will be covered.");
    }
    draw();
  }

  // -- tracks, with a picture of each face ------------------------------------------------

  const thumbs = new Map(); // track id -> {key, pick, canvas}
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

  function thumbFor(t) {
    if (isPdf) return ""; // a PDF's rows name what was found instead
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
    if (!isVideo) return Promise.resolve(media);
    if (!thumbVideo) {
      thumbVideo = document.createElement("video");
      thumbVideo.muted = true;
      thumbVideo.preload = "auto";
      thumbVideo.hidden = true;
      thumbVideo.setAttribute("aria-hidden", "true");
      thumbVideo.src = media.currentSrc || media.src;
      root.append(thumbVideo);
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
    if (media.complete && media.naturalWidth) return Promise.resolve();
    return new Promise((resolve) => media.addEventListener("load", resolve, { once: true }));
  }

  /** One thumbnail at a time: seek the second video to the track's best frame and crop. */
  async function makeThumbs() {
    if (thumbBusy || !media) return;
    thumbBusy = true;
    try {
      while (thumbQueue.length) {
        const entry = thumbQueue.shift();
        const f = entry.pick.frame;
        const source = await thumbSource();
        if (isVideo) await seekThumbVideo(source, f);
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
    const kx = nw / plan.width, ky = nh / plan.height;
    const b = padded(plan, box);
    const side = Math.max((b[2] - b[0]) * kx, (b[3] - b[1]) * ky);
    const cx = (b[0] + b[2]) / 2 * kx, cy = (b[1] + b[3]) / 2 * ky;
    const ctx = target.getContext("2d");
    ctx.fillStyle = "#000000";
    ctx.fillRect(0, 0, target.width, target.height);
    ctx.drawImage(source, cx - side / 2, cy - side / 2, side, side, 0, 0, target.width, target.height);
  }

  function frameRange(t) {
    const keys = framesOf(t);
    return keys.length ? `${Math.min(...keys)}–${Math.max(...keys)}` : "";
  }

  /** What a track is, as a person reads it: the kind of data a PDF's search found, "drawn"... */
  function trackName(t) {
    if (!isPdf) return t.id;
    if (t.kind === "manual") return "drawn";
    return LABELS[t.label] || t.label || t.kind;
  }

  /** Where a track is: frames of a clip, pages of a PDF (counted from 1). */
  function trackPlace(t) {
    if (!isPdf) return `${t.kind} · frames ${frameRange(t)}`;
    const pages = [...new Set(framesOf(t))].sort((a, b) => a - b).map((f) => f + 1);
    return `${pages.length > 1 ? "pages" : "page"} ${pages.join(", ")} · ${t.id}`;
  }

  function trackRow(t, options) {
    const row = document.createElement("tr");
    row.dataset.track = t.id;
    const include = document.createElement("input");
    include.type = "checkbox";
    include.checked = t.include;
    include.setAttribute("aria-label", isPdf ? `Redact ${trackName(t)} (${t.id})` : `Redact ${t.id}`);
    include.addEventListener("change", () => { t.include = include.checked; draw(); });
    const reason = document.createElement("select");
    reason.setAttribute("aria-label", isPdf ? `Reason for ${trackName(t)} (${t.id})` : `Reason for ${t.id}`);
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
    go.setAttribute("aria-label", isPdf ? `Go to the page of ${trackName(t)} (${t.id})`
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

  function listTracks() {
    const body = document.querySelector("#tracks tbody");
    const options = $("reason-options");
    body.replaceChildren(...plan.tracks.map((t) => trackRow(t, options)));
    for (const id of thumbs.keys()) if (!trackById(id)) thumbs.delete(id);
    markSelected();
  }

  function markSelected() {
    for (const row of document.querySelectorAll("#tracks tbody tr")) {
      row.classList.toggle("selected", row.dataset.track === selected);
    }
    listKeyframes();
  }

  function select(id) {
    selected = id;
    markSelected();
    draw();
  }

  function goToTrack(t) {
    selected = t.id;
    seekFrame(Math.min(...framesOf(t)));
    markSelected();
    draw();
  }

  /** N and Shift+N: the start of the next (or previous) track from here. */
  function jumpTrack(direction) {
    if (!plan || !plan.tracks.length) return;
    const starts = plan.tracks.map((t) => ({ t, f: Math.min(...framesOf(t)) }))
      .sort((a, b) => a.f - b.f || a.t.id.localeCompare(b.t.id));
    const now = frame();
    const here = starts.findIndex((s) => s.t.id === selected && s.f === now); // at a start already
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
    const t = trackById(selected);
    panel.hidden = !t || t.kind !== "manual" || isPdf;
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

  function hiddenText(text) {
    const span = document.createElement("span");
    span.className = "visually-hidden";
    span.textContent = text;
    return span;
  }

  function removeKeyframe(t, f) {
    delete t.keyframes[String(f)];
    if (!Object.keys(t.keyframes).length) {
      plan.tracks.splice(plan.tracks.indexOf(t), 1);
      selected = null;
      say(`That was the last keyframe of ${t.id}: the box is gone.`);
    } else say(`Keyframe at frame ${f} of ${t.id} removed.`);
    listTracks();
    draw();
  }

  // -- moving, resizing and drawing boxes on the frame ------------------------------------

  /** What is under the pointer: a corner of the selected box, else the topmost box. */
  function hitTest(point) {
    const f = frame();
    const { sx, sy } = scale();
    const sel = trackById(selected);
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
    for (const t of [...plan.tracks].reverse()) {
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
    const small = isPdf ? 1 : 2; // the smallest box: a PDF's boxes are in points
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
    if (isPdf) {
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

  /** The frame range and picture of one track after its boxes changed. */
  function refreshTrack(t) {
    const row = document.querySelector(`#tracks tbody tr[data-track="${CSS.escape(t.id)}"]`);
    if (!row) { listTracks(); return; }
    row.querySelector(".track-frames").textContent = trackPlace(t);
    thumbFor(t);
    listKeyframes();
  }

  function nudge(dx, dy) {
    const t = trackById(selected);
    const raw = t && boxAt(t, frame());
    if (!raw) { say("Select a box on this frame first (click it).", true); return; }
    commitBox(t, frame(), movedBox(raw, dx, dy));
  }

  function startDrawing() {
    if (!plan) return;
    drawing = true;
    if (isVideo) media.pause();
    canvas.classList.add("drawing");
    canvas.style.cursor = "";
    say(`Drag over the ${isPdf ? "page" : "frame"} to draw the box (Escape: stop).`);
  }

  function stopAll() {
    const busy = drawing || rubber || edit || waveDrag || mark.start !== null;
    drawing = false;
    rubber = null;
    edit = null;
    waveDrag = null;
    mark.start = null;
    canvas?.classList.remove("drawing");
    if (!busy && selected) { selected = null; markSelected(); }
    say(busy ? "Stopped." : "Nothing selected.");
    draw();
    drawWave();
  }

  function onPointerDown(e) {
    if (!plan) return;
    if (isVideo) media.pause();
    const r = canvas.getBoundingClientRect();
    if (drawing) {
      const x = e.clientX - r.left, y = e.clientY - r.top;
      rubber = { x0: x, y0: y, x1: x, y1: y };
      canvas.setPointerCapture(e.pointerId);
      return;
    }
    const point = toPlan(e);
    const hit = hitTest(point);
    if (!hit) { if (selected) select(null); return; }
    if (hit.track.id !== selected) select(hit.track.id);
    edit = { track: hit.track, mode: hit.mode, start: point, orig: hit.box.slice(), box: hit.box.slice(), moved: false };
    canvas.setPointerCapture(e.pointerId);
  }

  function onPointerMove(e) {
    if (!plan) return;
    if (rubber) {
      const r = canvas.getBoundingClientRect();
      rubber.x1 = e.clientX - r.left;
      rubber.y1 = e.clientY - r.top;
      draw();
      return;
    }
    const point = toPlan(e);
    if (edit) {
      const dx = point[0] - edit.start[0], dy = point[1] - edit.start[1];
      const { sx } = scale();
      if (!edit.moved && Math.hypot(dx, dy) * sx < 3) return; // a click, not a drag
      edit.moved = true;
      edit.box = edit.mode === "move" ? movedBox(edit.orig, dx, dy) : resizedBox(edit.orig, edit.mode, point);
      draw();
      return;
    }
    if (!drawing) {
      const hit = hitTest(point);
      canvas.style.cursor = hit ? CURSORS[hit.mode] : "";
    }
  }

  function onPointerUp() {
    if (rubber) finishDrawing();
    else if (edit) {
      const { track, box, moved } = edit;
      edit = null;
      if (moved) commitBox(track, frame(), box);
      else draw();
    }
  }

  function finishDrawing() {
    const { sx, sy } = scale();
    const ax = Math.min(rubber.x0, rubber.x1) / sx, ay = Math.min(rubber.y0, rubber.y1) / sy;
    const bx = Math.max(rubber.x0, rubber.x1) / sx, by = Math.max(rubber.y0, rubber.y1) / sy;
    rubber = null;
    drawing = false;
    canvas.classList.remove("drawing");
    const tiny = isPdf ? (bx - ax) * sx < 3 || (by - ay) * sy < 3 : bx - ax < 2 || by - ay < 2;
    if (tiny) { draw(); return; } // a click, not a box
    const box = clampBox([ax, ay, bx, by]).map(round1);
    if (isPdf) { // a box of its own, on this page only
      const track = addTrack("manual", { kind: "manual", include: true, reason: "pii", boxes: { [String(page)]: box } });
      selected = track.id;
      say(`Box drawn on page ${page + 1}: it is solid black in the redacted copy.`);
      listTracks();
      draw();
      return;
    }
    let track = plan.tracks.find((t) => t.id === selected && t.kind === "manual");
    if (!track) {
      const taken = new Set(plan.tracks.map((t) => t.id));
      let n = 1;
      while (taken.has(`manual-${n}`)) n++;
      track = { id: `manual-${n}`, kind: "manual", include: true, reason: "pii", keyframes: {} };
      plan.tracks.push(track);
      selected = track.id;
    }
    track.keyframes[String(frame())] = box;
    say(`Keyframe at frame ${frame()} for ${track.id}: draw it again (B) on another frame to make it follow.`);
    listTracks();
    draw();
  }

  // -- sound: the waveform, parts to mute or bleep ----------------------------------------

  const wave = $("audio-wave");
  const mark = { start: null };
  let peaks = null, perSecond = 10, peakScale = 1000;
  let waveDrag = null; // {x0, x1, moved} in CSS pixels

  function drawWave() {
    if (!wave || wave.hidden) return;
    const width = wave.clientWidth || 300;
    const height = wave.clientHeight || 72;
    const ratio = window.devicePixelRatio || 1;
    if (wave.width !== Math.round(width * ratio) || wave.height !== Math.round(height * ratio)) {
      wave.width = Math.round(width * ratio);
      wave.height = Math.round(height * ratio);
    }
    const ctx = wave.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const end = duration() || (peaks ? peaks.length / perSecond : 0);
    if (!end) return;
    const x = (t) => (t / end) * width;
    for (const seg of plan ? plan.audio : []) {
      ctx.fillStyle = seg.mode === "bleep" ? "rgba(240, 165, 0, 0.45)" : "rgba(224, 36, 94, 0.35)";
      ctx.fillRect(x(seg.start_s), 0, Math.max(2, x(seg.end_s) - x(seg.start_s)), height);
    }
    drawPeaks(ctx, width, height, end);
    if (waveDrag && waveDrag.moved) {
      ctx.fillStyle = "rgba(240, 165, 0, 0.35)";
      ctx.fillRect(Math.min(waveDrag.x0, waveDrag.x1), 0, Math.abs(waveDrag.x1 - waveDrag.x0), height);
    }
    if (mark.start !== null) {
      ctx.fillStyle = "#e0245e";
      ctx.fillRect(x(mark.start) - 1, 0, 2, height);
    }
    ctx.fillStyle = cssVar("--focus", "#f0a500");
    ctx.fillRect(Math.min(width - 2, x(isVideo ? media.currentTime : 0)), 0, 2, height);
    wave.dataset.drawn = String(peaks ? peaks.length : 0);
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

  function loadWave() {
    if (!wave || !wave.dataset.waveform) { drawWave(); return; }
    fetch(wave.dataset.waveform, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
      .then((data) => {
        peaks = data.peaks || [];
        perSecond = data.per_second || 10;
        peakScale = data.scale || 1000;
        drawWave();
      })
      .catch(() => drawWave());
  }

  const waveTime = (px) => (px / (wave.clientWidth || 1)) * duration();

  function addSegment(start, end) {
    if (!plan) return;
    const mode = $("audio-mode")?.value || "mute";
    plan.audio.push({ start_s: round2(start), end_s: round2(end), mode, reason: "pii" });
    plan.audio.sort((a, b) => a.start_s - b.start_s);
    say(`Sound from ${start.toFixed(2)} s to ${end.toFixed(2)} s will be ${mode === "bleep" ? "bleeped" : "muted"}.`);
    listAudio();
  }

  function onWaveDown(e) {
    const r = wave.getBoundingClientRect();
    waveDrag = { x0: e.clientX - r.left, x1: e.clientX - r.left, moved: false };
    wave.setPointerCapture(e.pointerId);
  }

  function onWaveMove(e) {
    if (!waveDrag) return;
    const r = wave.getBoundingClientRect();
    waveDrag.x1 = Math.min(Math.max(0, e.clientX - r.left), r.width);
    if (Math.abs(waveDrag.x1 - waveDrag.x0) > 4) waveDrag.moved = true;
    drawWave();
  }

  function onWaveUp() {
    if (!waveDrag) return;
    const { x0, x1, moved } = waveDrag;
    waveDrag = null;
    if (moved) addSegment(waveTime(Math.min(x0, x1)), waveTime(Math.max(x0, x1)));
    else seekTime(waveTime(x0));
    drawWave();
  }

  function listAudio() {
    const list = $("audio-segments");
    if (!list) return;
    list.replaceChildren(...plan.audio.map((seg, i) => segmentItem(seg, i)));
    drawWave();
  }

  function segmentItem(seg, i) {
    const li = document.createElement("li");
    const span = `${seg.start_s.toFixed(2)} s – ${seg.end_s.toFixed(2)} s`;
    const go = document.createElement("button");
    go.type = "button";
    go.className = "link";
    go.append(hiddenText("Go to "), span);
    go.addEventListener("click", () => seekTime(seg.start_s));
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
    remove.addEventListener("click", () => { plan.audio.splice(i, 1); listAudio(); });
    li.append(go, " ", mode, " ", remove);
    return li;
  }

  function markStart() {
    if (!isVideo) return;
    mark.start = media.currentTime;
    say(`Sound marked from ${mark.start.toFixed(2)} s… go to where it ends and press ].`);
    drawWave();
  }

  function markEnd() {
    if (!isVideo) return;
    if (mark.start === null || media.currentTime <= mark.start) { say("Mark the start first, then an end after it.", true); return; }
    const start = mark.start;
    mark.start = null;
    addSegment(start, media.currentTime);
  }

  // -- the plan: load, save, render --------------------------------------------------------

  function show(view) {
    plan = view.plan;
    version = view.version;
    $("plan-version").textContent = `version ${version} · ${view.note}`;
    $("no-plan").hidden = true;
    $("plan-controls").hidden = false;
    if ($("effect")) $("effect").value = plan.effect;
    if ($("fail-secure")) $("fail-secure").checked = plan.fail_secure.enabled;
    if ($("fail-secure-frames")) $("fail-secure-frames").textContent = plan.fail_secure.frames.length;
    if (selected && !trackById(selected)) selected = null;
    if (isPdf) showPage(page); // the page count is known now
    listTracks();
    listAudio();
    draw();
  }

  async function load() {
    try {
      show(await api(`${apiBase}/plan`));
      return true;
    } catch (err) {
      $("no-plan").hidden = false;
      if (!/no redaction plan/.test(err.message)) say(err.message, true);
      return false;
    }
  }

  async function waitForPlan() {
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      try { show(await api(`${apiBase}/plan`)); say(foundText()); return; }
      catch (_) { /* not yet */ }
    }
  }

  async function detect() {
    try {
      const queued = await api(`${apiBase}/detect`, { method: "POST" });
      if (queued.job_id === null && (await load())) return; // it had run already
      if (queued.job_id !== null) watching.add(queued.job_id);
      say(isPdf ? "Looking for personal data in the text… the boxes appear here when the search is done."
        : "Looking for faces… the plan appears here when the detector is done.");
      $("detect").disabled = true;
      if (!(await pollJobs())) waitForPlan();
    } catch (err) { say(err.message, true); }
  }

  async function save() {
    if (!plan) return;
    const reason = $("reason").value.trim();
    if (!reason) { say("Say why the plan changes before saving it.", true); $("reason").focus(); return; }
    try {
      const saved = await api(`${apiBase}/plan`, { method: "PUT", json: { base_version: version, reason, plan } });
      say(`Saved as version ${saved.version}.`);
      $("reason").value = "";
      await load();
    } catch (err) { say(err.message, true); }
  }

  async function render() {
    try {
      const queued = await api(`${apiBase}/render`, { method: "POST", json: {} });
      if (queued.job_id !== null) watching.add(queued.job_id);
      say(queued.job_id ? `Rendering version ${queued.version}… its progress is shown under the buttons.`
        : `Version ${queued.version} is rendered or being rendered already.`);
      if (!(await pollJobs()) && queued.job_id) say(`Rendering version ${queued.version}… the copy appears on the item's page when done.`);
    } catch (err) { say(err.message, true); }
  }

  // -- the detector's and the renders' progress -------------------------------------------

  const jobRows = new Map(); // job id -> {li, job}
  const watching = new Set(); // jobs this page started: told when they end, however fast
  let jobsSupported = true;
  let jobTimer = null;
  let polling = false, pollAgain = false;
  const isActive = (job) => job.state === "queued" || job.state === "running";
  const jobName = (job) => (job.kind === "detect" ? (isPdf ? "Finding personal data" : "Finding faces")
    : `Render of version ${job.version}`);
  const foundText = () => (isPdf ? `${plan.tracks.length} place(s) of personal data found: review the boxes, then save and render.`
    : "Faces found: review the tracks, then save and render.");

  /** Read the jobs once and show them; polls on while one is queued or running. False when
   * the server has no jobs endpoint (the page then works without progress). */
  async function pollJobs() {
    if (!jobsSupported) return false;
    if (polling) { pollAgain = true; return true; } // one read at a time
    polling = true;
    clearTimeout(jobTimer);
    try {
      return await readJobs();
    } finally {
      polling = false;
      if (pollAgain) { pollAgain = false; pollJobs(); }
    }
  }

  async function readJobs() {
    let jobs;
    try {
      const reply = await fetch(`${apiBase}/jobs`, { credentials: "same-origin" });
      if (reply.status === 404 || reply.status === 405) { jobsSupported = false; return false; }
      if (!reply.ok) throw new Error(`${reply.status} ${reply.statusText}`);
      jobs = await reply.json();
    } catch (_) {
      jobTimer = setTimeout(pollJobs, POLL_MS * 3); // a passing network error: try again
      return true;
    }
    showJobs(jobs);
    if (jobs.some(isActive)) jobTimer = setTimeout(pollJobs, POLL_MS);
    return true;
  }

  function showJobs(jobs) {
    const list = $("jobs");
    const shown = jobs.filter((j) => j.kind === "render" || isActive(j) || (j.state === "failed" && !plan))
      .slice(0, 10);
    for (const job of jobs) {
      // Ended since the last read, or started here and ended before the first.
      const before = jobRows.get(job.job_id)?.job;
      const ended = !isActive(job) && (watching.has(job.job_id) || (before && isActive(before)));
      if (!isActive(job)) watching.delete(job.job_id);
      if (ended) jobEnded(job);
    }
    for (const job of shown) {
      let entry = jobRows.get(job.job_id);
      if (!entry) {
        entry = { li: jobRow(job), job: null };
        jobRows.set(job.job_id, entry);
      }
      entry.job = job;
      updateJobRow(entry.li, job);
    }
    for (const [id, entry] of jobRows) {
      if (!shown.some((j) => j.job_id === id)) { entry.li.remove(); jobRows.delete(id); }
    }
    list.replaceChildren(...shown.map((j) => jobRows.get(j.job_id).li)); // newest first
    const detecting = jobs.some((j) => j.kind === "detect" && isActive(j));
    const button = $("detect");
    if (button) button.disabled = detecting;
  }

  function jobRow(job) {
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.job = String(job.job_id);
    const name = document.createElement("span");
    name.className = "job-name";
    name.textContent = jobName(job);
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.setAttribute("aria-label", jobName(job));
    const info = document.createElement("span");
    info.className = "job-info";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary job-cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `Cancel: ${jobName(job)}`);
    cancel.addEventListener("click", () => cancelJob(job.job_id, cancel));
    const link = document.createElement("a");
    link.className = "job-download";
    link.hidden = true;
    li.append(name, bar, info, cancel, link);
    return li;
  }

  function updateJobRow(li, job) {
    li.dataset.state = job.state;
    const bar = li.querySelector("progress");
    const percent = `${Math.round(job.progress * 100)} %`;
    if (job.state === "queued") bar.removeAttribute("value"); // waiting for a worker
    else bar.value = job.state === "done" ? 1 : job.progress;
    const words = {
      queued: "waiting for a worker",
      running: [percent, etaText(job.eta_s)].filter(Boolean).join(" · "),
      done: "done",
      failed: `failed: ${job.error || "unknown error"}`,
      cancelled: "cancelled",
    };
    li.querySelector(".job-info").textContent = words[job.state] || job.state;
    li.querySelector(".job-cancel").hidden = !isActive(job);
    const link = li.querySelector(".job-download");
    link.hidden = !(job.state === "done" && job.derivative);
    if (!link.hidden) {
      link.href = `${derivatives}${job.derivative}`;
      link.textContent = `Download ${job.derivative}`;
    }
  }

  /** Say how a job ended (the detector's end also brings its plan in). */
  function jobEnded(job) {
    if (job.state === "done" && job.kind === "detect") {
      load().then((found) => { if (found) say(foundText()); });
    } else if (job.state === "done") {
      say(`Version ${job.version} is rendered: download it below.`);
      addRender(job.derivative);
    } else if (job.state === "failed") say(`${jobName(job)} failed: ${job.error || "unknown error"}`, true);
    else if (job.state === "cancelled") say(`${jobName(job)}: cancelled.`);
  }

  function addRender(kind) {
    const list = $("renders");
    if (!kind || !list || list.querySelector(`li[data-kind="${CSS.escape(kind)}"]`)) return;
    const li = document.createElement("li");
    li.dataset.kind = kind;
    const a = document.createElement("a");
    a.href = `${derivatives}${kind}`;
    a.textContent = kind;
    li.append(a);
    list.prepend(li);
    $("renders-heading").hidden = false;
  }

  async function cancelJob(id, button) {
    button.disabled = true;
    try {
      await api(`${apiBase}/jobs/${id}/cancel`, { method: "POST" }); // the next read says so
    } catch (err) {
      say(err.message, true);
    } finally {
      button.disabled = false;
      pollJobs();
    }
  }

  // -- a PDF: its pages, drawn by the server, and the words a person looks for ------------

  /** Show page ``n`` (from 0): the server draws it as wide as the page is on this screen (it
   * fits the column and 80 % of the window's height, as the style sheet says). */
  function showPage(n) {
    if (!isPdf || !media) return;
    const next = Math.min(Math.max(0, n), pageCount() - 1);
    const [w, h] = plan ? size(next) : [612, 792]; // a Letter page until the plan says
    const column = $("redact-frame").parentElement.getBoundingClientRect().width || 900;
    const shown = Math.min(column, (window.innerHeight * 0.8 * w) / h);
    const wanted = Math.ceil((shown * (window.devicePixelRatio || 1)) / 200) * 200;
    const src = `${media.dataset.pagesUrl}${next}.png?width=${Math.min(PAGE_MAX_PX, wanted)}`;
    if (next !== page || !media.getAttribute("src")) {
      rubber = null;
      edit = null;
    }
    page = next;
    if (media.getAttribute("src") !== src) {
      media.dataset.loaded = "";
      media.src = src;
    }
    media.alt = `Page ${page + 1} of ${pageCount()} of the PDF being redacted`;
    $("prev-page").disabled = page <= 0;
    $("next-page").disabled = page >= pageCount() - 1;
    draw();
  }

  /** Find the words typed in the PDF's text; each place found is added as a track. */
  async function findWords(e) {
    e?.preventDefault();
    if (!plan) { say("Find the personal data first: the words are added to the plan it makes.", true); return; }
    const terms = $("find-terms").value.split("\n").map((t) => t.trim()).filter(Boolean);
    if (!terms.length) { say("Type the words to find, one per line.", true); $("find-terms").focus(); return; }
    try {
      const found = await api(`${apiBase}/find-text`, {
        method: "POST", json: { terms, match_case: $("find-case").checked },
      });
      const seen = new Set(plan.tracks.flatMap((t) => Object.entries(t.boxes || {}).map(([f, b]) => `${f}:${b.join(",")}`)));
      let added = 0;
      for (const m of found.matches) {
        const key = `${m.page}:${m.box.join(",")}`;
        if (seen.has(key)) continue;
        seen.add(key);
        addTrack("term", { kind: "text", label: "term", include: true, reason: "pii", boxes: { [String(m.page)]: m.box } });
        added++;
      }
      const pages = new Set(found.matches.map((m) => m.page)).size;
      listTracks();
      if (found.matches.length) showPage(found.matches[0].page);
      say(found.matches.length
        ? `Found ${found.matches.length} place(s) on ${pages} page(s)${added < found.matches.length ? ` (${found.matches.length - added} boxed already)` : ""}: save a version to keep the boxes.`
        : "Not found in the text of the PDF (a scanned page has no text: draw a box over it).");
    } catch (err) { say(err.message, true); }
  }

  // -- keys and wiring --------------------------------------------------------------------

  const step = (n) => {
    if (isVideo) seekFrame(Math.max(0, frame() + n));
    else if (isPdf) showPage(page + n);
  };
  const togglePlay = () => { if (isVideo) (media.paused ? media.play() : media.pause()); };
  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  function onKey(e) {
    // Keys go to the editor unless a person is typing (a switch or button keeps them working).
    const typing = e.target.closest("input:not([type=checkbox]):not([type=radio]), select, textarea");
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (e.ctrlKey && key === "s") { e.preventDefault(); save(); return; }
    if (typing || e.ctrlKey || e.metaKey) return;
    if (e.shiftKey && ARROWS[key]) {
      e.preventDefault();
      const [dx, dy] = ARROWS[key].map((v) => v * (e.altKey ? 10 : 1));
      nudge(dx, dy);
      return;
    }
    const actions = {
      " ": isVideo && !e.target.closest("button, input, a") ? togglePlay : null,
      ArrowLeft: () => step(-1),
      ArrowRight: () => step(1),
      PageUp: isPdf ? () => step(-1) : null,
      PageDown: isPdf ? () => step(1) : null,
      f: isPdf ? () => $("find-terms").focus() : null,
      b: startDrawing,
      n: () => jumpTrack(e.shiftKey ? -1 : 1),
      p: () => setPreview(!previewing),
      r: render,
      "[": markStart,
      "]": markEnd,
      i: toggleInclude,
      Delete: removeSelected,
      Escape: stopAll,
    };
    const action = actions[key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  function toggleInclude() {
    const t = trackById(selected);
    if (!t) return;
    t.include = !t.include;
    const box = document.querySelector(`#tracks tbody tr[data-track="${CSS.escape(t.id)}"] input[type=checkbox]`);
    if (box) box.checked = t.include;
    say(`${t.id} ${t.include ? "will be covered" : "stays visible"}.`);
    draw();
  }

  /** A new track with the first free id of the form ``<prefix>-<n>``. */
  function addTrack(prefix, fields) {
    const taken = new Set(plan.tracks.map((t) => t.id));
    let n = 1;
    while (taken.has(`${prefix}-${n}`)) n++;
    const track = { id: `${prefix}-${n}`, ...fields };
    plan.tracks.push(track);
    return track;
  }

  function removeSelected() {
    const added = (x) => x.kind === "manual" || (isPdf && x.label === "term");
    const i = plan ? plan.tracks.findIndex((x) => x.id === selected && added(x)) : -1;
    if (i < 0) {
      if (isPdf && trackById(selected)) say("A box the search found stays in the plan: untick it (I) to leave the words visible.", true);
      return;
    }
    plan.tracks.splice(i, 1);
    selected = null;
    listTracks();
    draw();
  }

  $("detect")?.addEventListener("click", detect);
  $("effect")?.addEventListener("change", (e) => { plan.effect = e.target.value; draw(); });
  $("fail-secure")?.addEventListener("change", (e) => { plan.fail_secure.enabled = e.target.checked; draw(); });
  $("draw")?.addEventListener("click", startDrawing);
  $("save")?.addEventListener("click", save);
  $("render")?.addEventListener("click", render);
  $("preview")?.addEventListener("click", () => setPreview(!previewing));
  $("play")?.addEventListener("click", togglePlay);
  $("back-frame")?.addEventListener("click", () => step(-1));
  $("next-frame")?.addEventListener("click", () => step(1));
  $("next-track")?.addEventListener("click", () => jumpTrack(1));
  $("prev-track")?.addEventListener("click", () => jumpTrack(-1));
  $("mark-start")?.addEventListener("click", markStart);
  $("mark-end")?.addEventListener("click", markEnd);
  $("prev-page")?.addEventListener("click", () => step(-1));
  $("next-page")?.addEventListener("click", () => step(1));
  $("find-form")?.addEventListener("submit", findWords);
  canvas?.addEventListener("pointerdown", onPointerDown);
  canvas?.addEventListener("pointermove", onPointerMove);
  canvas?.addEventListener("pointerup", onPointerUp);
  canvas?.addEventListener("pointercancel", () => { rubber = null; edit = null; draw(); });
  wave?.addEventListener("pointerdown", onWaveDown);
  wave?.addEventListener("pointermove", onWaveMove);
  wave?.addEventListener("pointerup", onWaveUp);
  document.addEventListener("keydown", onKey);
  if (media) {
    const redraw = () => { draw(); drawWave(); };
    for (const ev of ["timeupdate", "seeked", "loadedmetadata", "loadeddata", "load"]) media.addEventListener(ev, redraw);
    if (isVideo) {
      media.addEventListener("play", function tick() { redraw(); if (!media.paused) requestAnimationFrame(tick); });
      media.addEventListener("play", () => { $("play").textContent = "Pause"; });
      media.addEventListener("pause", () => { $("play").textContent = "Play"; });
    }
  }
  addEventListener("resize", () => { draw(); drawWave(); });
  if (isPdf) {
    media.addEventListener("load", () => { media.dataset.loaded = String(page); });
    showPage(0);
  }
  load();
  loadWave();
  pollJobs();
}
