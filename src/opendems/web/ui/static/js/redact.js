// The redaction editor: the plan's boxes drawn over the paused video (or photo), tracks to
// include or exclude with a reason, boxes drawn by hand as keyframes, sound to mute, saved as
// a new version with a reason and rendered -- all through the redaction API.
import { api } from "./app.js";

const root = document.getElementById("redactor");
if (root) setup(root);

function setup(root) {
  const item = root.dataset.item;
  const api_base = `/api/v1/evidence/${item}/redaction`;
  const media = document.getElementById("redact-media");
  const canvas = document.getElementById("redact-overlay");
  const status = document.getElementById("redact-status");
  const isVideo = media && media.tagName === "VIDEO";
  let plan = null;
  let version = 0;
  let selected = null; // a track id
  let drawing = false;
  let drag = null;

  const say = (text, bad = false) => {
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("error", bad);
  };
  const fps = () => (plan ? plan.fps : Number(root.dataset.fps) || 30);
  const frame = () => (isVideo ? Math.round(media.currentTime * fps()) : 0);

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

  function draw() {
    if (!canvas || !media || !plan) return;
    const rect = media.getBoundingClientRect();
    canvas.width = rect.width;
    canvas.height = rect.height;
    const sx = rect.width / plan.width, sy = rect.height / plan.height;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const f = frame();
    document.getElementById("frame-label")?.replaceChildren(`frame ${f}`);
    if (plan.fail_secure.enabled && plan.fail_secure.frames.includes(f)) {
      ctx.fillStyle = "rgba(200, 0, 0, 0.25)";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    for (const t of plan.tracks) {
      const raw = boxAt(t, f);
      if (!raw) continue;
      // Shown as it will be covered: grown by the plan's padding, within the frame.
      const dx = (raw[2] - raw[0]) * plan.padding / 2, dy = (raw[3] - raw[1]) * plan.padding / 2;
      const b = [Math.max(0, raw[0] - dx), Math.max(0, raw[1] - dy),
        Math.min(plan.width, raw[2] + dx), Math.min(plan.height, raw[3] + dy)];
      ctx.lineWidth = t.id === selected ? 3 : 2;
      ctx.setLineDash(t.include ? [] : [6, 4]);
      ctx.strokeStyle = t.include ? "#e0245e" : "#1d9bf0";
      ctx.strokeRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
      if (t.include) {
        ctx.fillStyle = "rgba(224, 36, 94, 0.25)";
        ctx.fillRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
      }
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(t.id, b[0] * sx + 2, b[1] * sy - 3);
    }
    if (drag) {
      ctx.setLineDash([4, 2]);
      ctx.strokeStyle = "#ffad1f";
      ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    }
  }

  function frames(t) {
    const keys = [...Object.keys(t.boxes || {}), ...Object.keys(t.keyframes || {})].map(Number);
    return keys.length ? `${Math.min(...keys)}–${Math.max(...keys)}` : "";
  }

  function listTracks() {
    const body = document.querySelector("#tracks tbody");
    const options = document.getElementById("reason-options");
    body.replaceChildren();
    for (const t of plan.tracks) {
      const row = document.createElement("tr");
      row.dataset.track = t.id;
      row.classList.toggle("selected", t.id === selected);
      const include = document.createElement("input");
      include.type = "checkbox";
      include.checked = t.include;
      include.setAttribute("aria-label", `Redact ${t.id}`);
      include.addEventListener("change", () => { t.include = include.checked; draw(); });
      const reason = document.createElement("select");
      reason.setAttribute("aria-label", `Reason for ${t.id}`);
      reason.append(options.content.cloneNode(true));
      reason.value = t.reason;
      reason.addEventListener("change", () => { t.reason = reason.value; });
      const go = document.createElement("button");
      go.type = "button";
      go.className = "secondary";
      go.textContent = "Go to";
      go.setAttribute("aria-label", `Go to the first frame of ${t.id}`);
      go.addEventListener("click", () => {
        selected = t.id;
        const first = Math.min(...[...Object.keys(t.boxes || {}), ...Object.keys(t.keyframes || {})].map(Number));
        if (isVideo) media.currentTime = (first + 0.5) / fps();
        listTracks();
        draw();
      });
      const cells = [include, `${t.id} (${t.kind})`, frames(t), reason, go];
      for (const c of cells) {
        const td = document.createElement("td");
        td.append(c);
        row.append(td);
      }
      row.addEventListener("click", (e) => {
        if (e.target.closest("input, select, button")) return;
        selected = t.id;
        listTracks();
        draw();
      });
      body.append(row);
    }
  }

  function listAudio() {
    const list = document.getElementById("audio-segments");
    if (!list) return;
    list.replaceChildren();
    plan.audio.forEach((seg, i) => {
      const li = document.createElement("li");
      li.textContent = `${seg.start_s.toFixed(2)} s – ${seg.end_s.toFixed(2)} s (${seg.mode}) `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => { plan.audio.splice(i, 1); listAudio(); });
      li.append(remove);
      list.append(li);
    });
  }

  function show(view) {
    plan = view.plan;
    version = view.version;
    document.getElementById("plan-version").textContent = `version ${version} · ${view.note}`;
    document.getElementById("no-plan").hidden = true;
    document.getElementById("plan-controls").hidden = false;
    document.getElementById("effect").value = plan.effect;
    document.getElementById("fail-secure").checked = plan.fail_secure.enabled;
    document.getElementById("fail-secure-frames").textContent = plan.fail_secure.frames.length;
    listTracks();
    listAudio();
    draw();
  }

  async function load() {
    try {
      show(await api(`${api_base}/plan`));
    } catch (err) {
      document.getElementById("no-plan").hidden = false;
      if (!/no redaction plan/.test(err.message)) say(err.message, true);
    }
  }

  async function waitForPlan() {
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try { show(await api(`${api_base}/plan`)); say("Faces found: review the tracks, then save and render."); return; }
      catch (_) { /* not yet */ }
    }
  }

  document.getElementById("detect")?.addEventListener("click", async () => {
    try {
      await api(`${api_base}/detect`, { method: "POST" });
      say("Looking for faces… the plan appears here when the detector is done.");
      waitForPlan();
    } catch (err) { say(err.message, true); }
  });
  document.getElementById("effect")?.addEventListener("change", (e) => { plan.effect = e.target.value; });
  document.getElementById("fail-secure")?.addEventListener("change", (e) => {
    plan.fail_secure.enabled = e.target.checked;
    draw();
  });

  async function save() {
    const reason = document.getElementById("reason").value.trim();
    if (!reason) { say("Say why the plan changes before saving it.", true); document.getElementById("reason").focus(); return; }
    try {
      const saved = await api(`${api_base}/plan`, { method: "PUT", json: { base_version: version, reason, plan } });
      say(`Saved as version ${saved.version}.`);
      document.getElementById("reason").value = "";
      await load();
    } catch (err) { say(err.message, true); }
  }
  async function render() {
    try {
      const queued = await api(`${api_base}/render`, { method: "POST", json: {} });
      say(queued.job_id ? `Rendering version ${queued.version}… the copy appears on the item's page when done.`
        : `Version ${queued.version} is rendered or being rendered already.`);
    } catch (err) { say(err.message, true); }
  }
  document.getElementById("save")?.addEventListener("click", save);
  document.getElementById("render")?.addEventListener("click", render);

  // Drawing: drag on the paused frame; a new drawn track, or a keyframe of the selected one.
  const toPlan = (x, y) => {
    const rect = canvas.getBoundingClientRect();
    return [x * plan.width / rect.width, y * plan.height / rect.height];
  };
  document.getElementById("draw")?.addEventListener("click", () => {
    drawing = true;
    if (isVideo) media.pause();
    canvas.classList.add("drawing");
    say("Drag over the frame to draw the box.");
  });
  canvas?.addEventListener("pointerdown", (e) => {
    if (!plan || !drawing) return;
    const r = canvas.getBoundingClientRect();
    drag = { x0: e.clientX - r.left, y0: e.clientY - r.top, x1: e.clientX - r.left, y1: e.clientY - r.top };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas?.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const r = canvas.getBoundingClientRect();
    drag.x1 = e.clientX - r.left;
    drag.y1 = e.clientY - r.top;
    draw();
  });
  canvas?.addEventListener("pointerup", () => {
    if (!drag) return;
    const [ax, ay] = toPlan(Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1));
    const [bx, by] = toPlan(Math.max(drag.x0, drag.x1), Math.max(drag.y0, drag.y1));
    drag = null;
    drawing = false;
    canvas.classList.remove("drawing");
    if (bx - ax < 2 || by - ay < 2) { draw(); return; }
    const box = [ax, ay, bx, by].map((v) => Math.round(v * 10) / 10);
    let track = plan.tracks.find((t) => t.id === selected && t.kind === "manual");
    if (!track) {
      const n = plan.tracks.filter((t) => t.kind === "manual").length + 1;
      track = { id: `manual-${n}`, kind: "manual", include: true, reason: "pii", keyframes: {} };
      plan.tracks.push(track);
      selected = track.id;
    }
    track.keyframes[String(frame())] = box;
    say(`Keyframe at frame ${frame()} for ${track.id}: move to another frame and draw again to make it follow.`);
    listTracks();
    draw();
  });

  const mark = { start: null };
  document.getElementById("mark-start")?.addEventListener("click", () => { mark.start = media.currentTime; say(`Mute from ${mark.start.toFixed(2)} s…`); });
  document.getElementById("mark-end")?.addEventListener("click", () => {
    if (mark.start === null || media.currentTime <= mark.start) { say("Mark the start first, then an end after it.", true); return; }
    plan.audio.push({ start_s: Math.round(mark.start * 100) / 100, end_s: Math.round(media.currentTime * 100) / 100, mode: "mute", reason: "pii" });
    mark.start = null;
    listAudio();
  });

  const step = (n) => { if (isVideo) { media.pause(); media.currentTime = Math.max(0, (frame() + n + 0.5) / fps()); } };
  document.getElementById("play")?.addEventListener("click", () => (media.paused ? media.play() : media.pause()));
  document.getElementById("back-frame")?.addEventListener("click", () => step(-1));
  document.getElementById("next-frame")?.addEventListener("click", () => step(1));
  document.addEventListener("keydown", (e) => {
    // Keys go to the editor unless a person is typing (a switch or button keeps them working).
    const typing = e.target.closest("input:not([type=checkbox]):not([type=radio]), select, textarea");
    if (typing && !(e.ctrlKey && e.key === "s")) return;
    if (e.ctrlKey && e.key === "s") { e.preventDefault(); save(); }
    else if (e.key === " " && isVideo) { e.preventDefault(); media.paused ? media.play() : media.pause(); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    else if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
    else if (e.key === "b" || e.key === "B") document.getElementById("draw")?.click();
    else if (e.key === "r" || e.key === "R") render();
    else if (e.key === "[") document.getElementById("mark-start")?.click();
    else if (e.key === "]") document.getElementById("mark-end")?.click();
    else if ((e.key === "i" || e.key === "I") && selected) {
      const t = plan.tracks.find((x) => x.id === selected);
      if (t) { t.include = !t.include; listTracks(); draw(); }
    } else if (e.key === "Delete" && selected) {
      const i = plan.tracks.findIndex((x) => x.id === selected && x.kind === "manual");
      if (i >= 0) { plan.tracks.splice(i, 1); selected = null; listTracks(); draw(); }
    }
  });
  if (media) {
    for (const ev of ["timeupdate", "seeked", "loadedmetadata", "load"]) media.addEventListener(ev, draw);
    if (isVideo) media.addEventListener("play", function tick() { draw(); if (!media.paused) requestAnimationFrame(tick); });
  }
  addEventListener("resize", draw);
  load();
}
