// The redaction editor: the plan's boxes drawn over the paused video (or photo), tracks to
// include or exclude with a reason and a picture of each face, boxes moved and resized on
// the frame or drawn by hand as keyframes, a preview of the effect, the sound's waveform to
// mark parts to mute, and versions saved with a reason and rendered, with the progress of
// the detector and of each render -- all through the redaction API.
//
// A PDF is the same editor with a page for a frame: the server draws the page on show, the
// boxes are solid black (P: see through them), each track has its own box on each page
// (never keyframes), and the words a person looks for come back as boxes added as tracks.
//
// The parts live in ./redact/: editor.js (the shared state), plan.js, overlay.js, thumbs.js,
// tracks.js, boxes.js, audio.js, plan-api.js, jobs.js, pdf.js and keys.js; this file wires
// them to the page.
import { $, ed, initEditor } from "./redact/editor.js";
import { draw, setPreview } from "./redact/overlay.js";
import { jumpTrack } from "./redact/tracks.js";
import { onPointerDown, onPointerMove, onPointerUp, startDrawing } from "./redact/boxes.js";
import { drawWave, findSpoken, loadWave, markEnd, markStart, onWaveDown, onWaveMove, onWaveUp } from "./redact/audio.js";
import { detect, load, render, save } from "./redact/plan-api.js";
import { pollJobs } from "./redact/jobs.js";
import { findWords, showPage } from "./redact/pdf.js";
import { onKey, step, togglePlay } from "./redact/keys.js";

const root = document.getElementById("redactor");
if (root) setup(root);

function setup(root) {
  initEditor(root);
  $("detect")?.addEventListener("click", detect);
  $("effect")?.addEventListener("change", (e) => { ed.plan.effect = e.target.value; draw(); });
  $("fail-secure")?.addEventListener("change", (e) => { ed.plan.fail_secure.enabled = e.target.checked; draw(); });
  $("draw")?.addEventListener("click", startDrawing);
  $("save")?.addEventListener("click", save);
  $("render")?.addEventListener("click", render);
  $("preview")?.addEventListener("click", () => setPreview(!ed.previewing));
  $("play")?.addEventListener("click", togglePlay);
  $("back-frame")?.addEventListener("click", () => step(-1));
  $("next-frame")?.addEventListener("click", () => step(1));
  $("next-track")?.addEventListener("click", () => jumpTrack(1));
  $("prev-track")?.addEventListener("click", () => jumpTrack(-1));
  $("mark-start")?.addEventListener("click", markStart);
  $("mark-end")?.addEventListener("click", markEnd);
  $("find-spoken")?.addEventListener("click", findSpoken);
  $("prev-page")?.addEventListener("click", () => step(-1));
  $("next-page")?.addEventListener("click", () => step(1));
  $("find-form")?.addEventListener("submit", findWords);
  ed.canvas?.addEventListener("pointerdown", onPointerDown);
  ed.canvas?.addEventListener("pointermove", onPointerMove);
  ed.canvas?.addEventListener("pointerup", onPointerUp);
  ed.canvas?.addEventListener("pointercancel", () => { ed.rubber = null; ed.edit = null; draw(); });
  ed.wave?.addEventListener("pointerdown", onWaveDown);
  ed.wave?.addEventListener("pointermove", onWaveMove);
  ed.wave?.addEventListener("pointerup", onWaveUp);
  document.addEventListener("keydown", onKey);
  if (ed.media) {
    const redraw = () => { draw(); drawWave(); };
    for (const ev of ["timeupdate", "seeked", "loadedmetadata", "loadeddata", "load"]) ed.media.addEventListener(ev, redraw);
    if (ed.isVideo) {
      ed.media.addEventListener("play", function tick() { redraw(); if (!ed.media.paused) requestAnimationFrame(tick); });
      ed.media.addEventListener("play", () => { $("play").textContent = "Pause"; });
      ed.media.addEventListener("pause", () => { $("play").textContent = "Play"; });
    }
  }
  addEventListener("resize", () => { draw(); drawWave(); });
  if (ed.isPdf) {
    ed.media.addEventListener("load", () => { ed.media.dataset.loaded = String(ed.page); });
    showPage(0);
  }
  load();
  loadWave();
  pollJobs();
}
