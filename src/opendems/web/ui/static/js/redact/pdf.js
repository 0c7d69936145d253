// -- a PDF: its pages, drawn by the server, and the words a person looks for ------------
import { api } from "../app.js";
import { $, ed, pageCount, say, size } from "./editor.js";
import { addTrack } from "./plan.js";
import { draw } from "./overlay.js";
import { listTracks } from "./tracks.js";

const PAGE_MAX_PX = 2000; // the widest page picture the server draws

/** Show page ``n`` (from 0): the server draws it as wide as the page is on this screen (it
 * fits the column and 80 % of the window's height, as the style sheet says). */
export function showPage(n) {
  if (!ed.isPdf || !ed.media) return;
  const next = Math.min(Math.max(0, n), pageCount() - 1);
  const [w, h] = ed.plan ? size(next) : [612, 792]; // a Letter page until the plan says
  const column = $("redact-frame").parentElement.getBoundingClientRect().width || 900;
  const shown = Math.min(column, (window.innerHeight * 0.8 * w) / h);
  const wanted = Math.ceil((shown * (window.devicePixelRatio || 1)) / 200) * 200;
  const src = `${ed.media.dataset.pagesUrl}${next}.png?width=${Math.min(PAGE_MAX_PX, wanted)}`;
  if (next !== ed.page || !ed.media.getAttribute("src")) {
    ed.rubber = null;
    ed.edit = null;
  }
  ed.page = next;
  if (ed.media.getAttribute("src") !== src) {
    ed.media.dataset.loaded = "";
    ed.media.src = src;
  }
  ed.media.alt = `Page ${ed.page + 1} of ${pageCount()} of the PDF being redacted`;
  $("prev-page").disabled = ed.page <= 0;
  $("next-page").disabled = ed.page >= pageCount() - 1;
  draw();
}

/** Find the words typed in the PDF's text; each place found is added as a track. */
export async function findWords(e) {
  e?.preventDefault();
  if (!ed.plan) { say("Find the personal data first: the words are added to the plan it makes.", true); return; }
  const terms = $("find-terms").value.split("\n").map((t) => t.trim()).filter(Boolean);
  if (!terms.length) { say("Type the words to find, one per line.", true); $("find-terms").focus(); return; }
  try {
    const found = await api(`${ed.apiBase}/find-text`, {
      method: "POST", json: { terms, match_case: $("find-case").checked },
    });
    const seen = new Set(ed.plan.tracks.flatMap((t) => Object.entries(t.boxes || {}).map(([f, b]) => `${f}:${b.join(",")}`)));
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
