// The transcript under the player: each word a place to play from, the word being said
// highlighted, and -- for those who may edit the item -- corrections: click a word, type what
// was said (empty takes it out), give the reason, save. Each save is the next revision; the
// captions and the search index follow it.

import { api } from "./app.js";

export function setupTranscript(root, media, { seek, toggle, say, clock }) {
  const panel = root.querySelector("#transcript");
  if (!panel || !root.dataset.transcript) return;
  const list = panel.querySelector("ol");
  const note = panel.querySelector(".transcript-note");
  const about = panel.querySelector(".transcript-about");
  const editButton = panel.querySelector("#transcript-edit");
  const form = panel.querySelector("#transcript-save");
  const pending = panel.querySelector("#transcript-pending");
  const status = panel.querySelector("#transcript-status");
  let data = null;
  let spans = [];
  let editing = false;
  const changes = new Map(); // word index -> new text

  function follow() {
    const t = media.currentTime;
    for (const span of spans) {
      span.classList.toggle("said", Number(span.dataset.start) <= t && t < Number(span.dataset.end));
    }
  }

  function describe() {
    const parts = [data.language_name ? `Language: ${data.language_name}` : "", data.note || ""].filter(Boolean);
    note.textContent = parts.join(" · ");
    if (about) {
      const last = (data.revisions || []).at(-1);
      about.textContent = data.revision > 1 && last
        ? `revision ${data.revision}, corrected by ${last.by}: ${last.reason}`
        : `automatic: ${(data.model && data.model.model) || "speech model"}; check it against the recording`;
    }
  }

  function render() {
    list.replaceChildren();
    spans = [];
    let index = 0;
    for (const segment of data.segments || []) {
      const row = document.createElement("li");
      const at = document.createElement("button");
      at.type = "button";
      at.className = "secondary transcript-time";
      at.dataset.start = String(segment.start);
      at.textContent = clock(segment.start).slice(0, 8);
      at.setAttribute("aria-label", `Play from ${clock(segment.start)}`);
      row.append(at, " ");
      if (segment.speaker) {
        // A turn: who speaks, where the voices could be told apart.
        const who = document.createElement("strong");
        who.className = "transcript-speaker";
        who.textContent = `${segment.speaker}:`;
        row.append(who);
      }
      const words = segment.words && segment.words.length ? segment.words : [{ start: segment.start, end: segment.end, text: segment.text }];
      for (const w of words) {
        const span = document.createElement("span");
        span.className = "word";
        span.dataset.start = String(w.start);
        span.dataset.end = String(w.end);
        span.dataset.index = String(index++);
        span.textContent = w.text;
        row.append(span);
        spans.push(span);
      }
      list.append(row);
    }
    describe();
    setEditing(editing);
    panel.hidden = false;
    panel.dataset.loaded = String(spans.length);
    panel.dataset.revision = String(data.revision);
  }

  function showCaptions() {
    if (!data.captions) return;
    const src = `/api/v1/evidence/${data.evidence_id}/derivatives/${data.captions}`;
    const old = media.querySelector("track");
    if (old && old.getAttribute("src") === src) return;
    const track = document.createElement("track");
    track.kind = "captions";
    track.srclang = data.language || "en";
    track.label = data.revision > 1 ? `Transcript (revision ${data.revision})` : "Automatic transcript";
    track.src = src;
    track.default = true;
    if (old) old.remove();
    media.append(track);
    track.track.mode = "showing";
  }

  function load() {
    return api(root.dataset.transcript)
      .then((body) => { data = body; changes.clear(); render(); })
      .catch((e) => { panel.hidden = false; note.textContent = `The transcript could not be loaded (${e.message}).`; });
  }

  function setEditing(on) {
    editing = on && Boolean(form);
    panel.classList.toggle("editing", editing);
    if (form) form.hidden = !editing;
    if (editButton) {
      editButton.textContent = editing ? "Stop correcting" : "Correct words";
      editButton.setAttribute("aria-pressed", String(editing));
    }
    for (const span of spans) {
      if (editing) { span.tabIndex = 0; span.setAttribute("role", "button"); }
      else { span.removeAttribute("tabindex"); span.removeAttribute("role"); }
      span.classList.toggle("changed", changes.has(Number(span.dataset.index)));
    }
    if (pending) {
      pending.textContent = changes.size ? `${changes.size} word${changes.size === 1 ? "" : "s"} changed, not saved yet.` : "No changes yet.";
    }
  }

  function correct(span) {
    if (span.querySelector("input")) return;
    const index = Number(span.dataset.index);
    const was = span.textContent.trim();
    const input = document.createElement("input");
    input.type = "text";
    input.className = "word-input";
    input.value = changes.has(index) ? changes.get(index) : was;
    input.setAttribute("aria-label", `Correct the word “${was}” said at ${clock(Number(span.dataset.start))}`);
    input.size = Math.max(4, input.value.length + 1);
    const original = span.dataset.was ?? was;
    span.dataset.was = original;
    const done = (keep) => {
      const value = input.value.trim().replace(/\s+/g, " ");
      input.remove();
      if (keep && value !== original) { changes.set(index, value); span.textContent = ` ${value}`; }
      else if (keep) { changes.delete(index); span.textContent = ` ${original}`; }
      else span.textContent = changes.has(index) ? ` ${changes.get(index)}` : ` ${original}`;
      setEditing(true);
      span.focus();
    };
    input.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Enter") { event.preventDefault(); done(true); }
      if (event.key === "Escape") { event.preventDefault(); done(false); }
    });
    input.addEventListener("blur", () => { if (input.isConnected) done(true); });
    span.replaceChildren(input);
    input.focus();
    input.select();
  }

  panel.addEventListener("click", (event) => {
    const word = event.target.closest(".word");
    if (editing && word) { correct(word); return; }
    if (event.target.closest("input, form")) return;
    const target = event.target.closest("[data-start]");
    if (!target) return;
    seek(Number(target.dataset.start));
    say(`Playing from ${clock(media.currentTime)}`);
    if (media.paused) toggle();
  });
  panel.addEventListener("keydown", (event) => {
    const word = event.target.closest(".word");
    if (!editing || !word || event.target.tagName === "INPUT") return;
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); event.stopPropagation(); correct(word); }
  });
  if (editButton) editButton.addEventListener("click", () => setEditing(!editing));
  if (form) {
    panel.querySelector("#transcript-cancel").addEventListener("click", () => {
      changes.clear();
      render();
      setEditing(false);
      status.textContent = "Corrections dropped.";
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = form.querySelector("#transcript-reason").value.trim();
      if (!changes.size) { status.textContent = "Click a word to correct it first."; return; }
      if (!reason) { status.textContent = "Say why the transcript is corrected."; form.querySelector("#transcript-reason").focus(); return; }
      const corrections = [...changes].map(([index, text]) => ({ index, text }));
      try {
        data = await api(`${root.dataset.transcript}/corrections`, {
          method: "POST", json: { base_revision: data.revision, reason, corrections },
        });
        changes.clear();
        form.querySelector("#transcript-reason").value = "";
        editing = false;
        render();
        showCaptions();
        status.textContent = `Saved as revision ${data.revision}.`;
        say(`Transcript saved as revision ${data.revision}`);
      } catch (e) {
        status.textContent = `Not saved: ${e.message}`;
      }
    });
  }
  media.addEventListener("timeupdate", follow);
  load();
}
