// -- keys: the editor's shortcuts, a frame (or page) on and back, play and pause ---------
import { $, ed, frame, seekFrame } from "./editor.js";
import { setPreview } from "./overlay.js";
import { jumpTrack, removeSelected, toggleInclude } from "./tracks.js";
import { nudge, startDrawing, stopAll } from "./boxes.js";
import { markEnd, markStart } from "./audio.js";
import { render, save } from "./plan-api.js";
import { showPage } from "./pdf.js";

export const step = (n) => {
  if (ed.isVideo) seekFrame(Math.max(0, frame() + n));
  else if (ed.isPdf) showPage(ed.page + n);
};
export const togglePlay = () => { if (ed.isVideo) (ed.media.paused ? ed.media.play() : ed.media.pause()); };
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

export function onKey(e) {
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
    " ": ed.isVideo && !e.target.closest("button, input, a") ? togglePlay : null,
    ArrowLeft: () => step(-1),
    ArrowRight: () => step(1),
    PageUp: ed.isPdf ? () => step(-1) : null,
    PageDown: ed.isPdf ? () => step(1) : null,
    f: ed.isPdf ? () => $("find-terms").focus() : null,
    b: startDrawing,
    n: () => jumpTrack(e.shiftKey ? -1 : 1),
    p: () => setPreview(!ed.previewing),
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
