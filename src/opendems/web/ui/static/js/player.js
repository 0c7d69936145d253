// The evidence player: the proxy of a video or a recording, with frame-accurate times,
// frame steps, playback speed, keyboard shortcuts, a waveform to click on and timeline
// thumbnails over the position slider. Set up again when the viewer region is replaced.

import { setupTranscript } from "./transcript.js";

const SPEEDS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];

/** HH:MM:SS.mmm: the form a time is written in a statement or a court exhibit list. */
export function clock(seconds) {
  const ms = Math.max(0, Math.round((seconds || 0) * 1000));
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function setupPlayer(root) {
  if (root.dataset.ready) return;
  root.dataset.ready = "1";
  const media = root.querySelector("#media");
  const scrub = root.querySelector("#scrub");
  const playButton = root.querySelector("#play-toggle");
  const muteButton = root.querySelector("#mute-toggle");
  const speed = root.querySelector("#speed");
  const now = root.querySelector("#current-time");
  const total = root.querySelector("#duration-time");
  const status = root.querySelector("#player-status");
  const fps = Number(root.dataset.fps) || 30;
  const frame = 1 / fps;
  let duration = Number(root.dataset.duration) || 0;

  const say = (text) => { if (status) status.textContent = text; };
  const length = () => (Number.isFinite(media.duration) && media.duration > 0 ? media.duration : duration);
  const seek = (t) => {
    const end = length();
    media.currentTime = Math.min(Math.max(0, t), end || Math.max(0, t));
    show();
  };
  const toggle = () => (media.paused ? media.play().catch((e) => say(`Cannot play: ${e.message}`)) : media.pause());
  const setSpeed = (value) => {
    media.playbackRate = value;
    speed.value = String(value);
    say(`Speed ${value}×`);
  };
  const step = (dir) => {
    media.pause();
    seek(media.currentTime + dir * frame);
  };

  function show() {
    now.textContent = clock(media.currentTime);
    if (document.activeElement !== scrub) scrub.value = String(media.currentTime);
    drawWave();
  }

  // A link to a moment (a search hit in a transcript: ?t=SECONDS) opens the player there.
  const startAt = Number(new URLSearchParams(location.search).get("t"));
  const onMetadata = () => {
    duration = length();
    scrub.max = String(duration);
    total.textContent = clock(duration);
    if (startAt > 0) {
      seek(startAt);
      say(`Opened at ${clock(media.currentTime)}`);
    }
    drawWave();
  };
  // The metadata may have come before this script ran (a busy machine, a cached proxy).
  if (media.readyState >= 1) queueMicrotask(onMetadata);
  else media.addEventListener("loadedmetadata", onMetadata, { once: true });
  media.addEventListener("timeupdate", show);
  media.addEventListener("seeked", show);
  media.addEventListener("play", () => { playButton.textContent = "Pause"; });
  media.addEventListener("pause", () => { playButton.textContent = "Play"; show(); });
  media.addEventListener("ratechange", () => { speed.value = String(media.playbackRate); });
  media.addEventListener("volumechange", () => {
    muteButton.setAttribute("aria-pressed", String(media.muted));
    muteButton.textContent = media.muted ? "Unmute" : "Mute";
  });
  if (duration) total.textContent = clock(duration);

  playButton.addEventListener("click", toggle);
  root.querySelector("#back-10").addEventListener("click", () => seek(media.currentTime - 10));
  root.querySelector("#forward-10").addEventListener("click", () => seek(media.currentTime + 10));
  root.querySelector("#frame-back").addEventListener("click", () => step(-1));
  root.querySelector("#frame-forward").addEventListener("click", () => step(1));
  muteButton.addEventListener("click", () => { media.muted = !media.muted; });
  speed.addEventListener("change", () => setSpeed(Number(speed.value)));
  scrub.addEventListener("input", () => seek(Number(scrub.value)));
  if (media.tagName === "VIDEO") media.addEventListener("click", toggle);

  root.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.tagName === "SELECT" || (target.tagName === "INPUT" && target.type !== "range")) return;
    const onButton = target.tagName === "BUTTON";
    const onSlider = target === scrub;
    const index = SPEEDS.indexOf(media.playbackRate);
    const actions = {
      " ": onButton ? null : toggle,
      k: toggle, K: toggle,
      j: () => seek(media.currentTime - 10), J: () => seek(media.currentTime - 10),
      l: () => seek(media.currentTime + 10), L: () => seek(media.currentTime + 10),
      ArrowLeft: onSlider ? null : () => seek(media.currentTime - 5),
      ArrowRight: onSlider ? null : () => seek(media.currentTime + 5),
      ",": () => step(-1),
      ".": () => step(1),
      "<": () => setSpeed(SPEEDS[Math.max(0, (index < 0 ? 3 : index) - 1)]),
      ">": () => setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, (index < 0 ? 3 : index) + 1)]),
      m: () => { media.muted = !media.muted; }, M: () => { media.muted = !media.muted; },
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // -- waveform --
  const canvas = root.querySelector("#waveform");
  let peaks = null, perSecond = 10, scale = 1000;
  function drawWave() {
    if (!canvas || !peaks) return;
    const width = canvas.clientWidth || 600;
    const height = canvas.clientHeight || 72;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const end = length() || peaks.length / perSecond;
    const played = media.currentTime / (end || 1);
    const mid = height / 2;
    for (let x = 0; x < width; x++) {
      const from = Math.floor((x / width) * peaks.length);
      const to = Math.max(from + 1, Math.floor(((x + 1) / width) * peaks.length));
      let top = 0;
      for (let i = from; i < to && i < peaks.length; i++) top = Math.max(top, peaks[i]);
      const h = Math.max(1, (top / scale) * (height - 4));
      ctx.fillStyle = x / width <= played ? cssVar("--accent", "#1f4e8c") : cssVar("--muted", "#4f5f6f");
      ctx.fillRect(x, mid - h / 2, 1, h);
    }
    ctx.fillStyle = cssVar("--focus", "#f0a500");
    ctx.fillRect(Math.min(width - 2, played * width), 0, 2, height);
    canvas.dataset.drawn = String(peaks.length);
  }
  if (canvas && root.dataset.waveform) {
    fetch(root.dataset.waveform, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
      .then((data) => {
        peaks = data.peaks || [];
        perSecond = data.per_second || 10;
        scale = data.scale || 1000;
        drawWave();
      })
      .catch(() => { canvas.hidden = true; });
    canvas.addEventListener("click", (event) => {
      const box = canvas.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * (length() || 0));
    });
    addEventListener("resize", drawWave);
  }

  // -- timeline thumbnails over the slider --
  const preview = root.querySelector("#thumb-preview");
  if (preview && root.dataset.sprite) {
    const layout = JSON.parse(root.dataset.spriteLayout || "{}");
    const img = preview.querySelector(".thumb-img");
    const label = preview.querySelector(".thumb-time");
    img.style.width = `${layout.tile_width}px`;
    img.style.height = `${layout.tile_height}px`;
    img.style.backgroundImage = `url("${root.dataset.sprite}")`;
    const thumbAt = (t, x) => {
      const tile = Math.min(layout.tiles - 1, Math.max(0, Math.floor(t / (layout.interval_s || 1))));
      const col = tile % layout.columns, row = Math.floor(tile / layout.columns);
      img.style.backgroundPosition = `-${col * layout.tile_width}px -${row * layout.tile_height}px`;
      label.textContent = clock(t);
      const half = layout.tile_width / 2 + 4;
      preview.style.left = `${Math.min(Math.max(x, half), scrub.clientWidth - half)}px`;
      preview.hidden = false;
    };
    const fromValue = () => {
      const end = Number(scrub.max) || 1;
      thumbAt(Number(scrub.value), (Number(scrub.value) / end) * scrub.clientWidth);
    };
    scrub.addEventListener("mousemove", (event) => {
      const box = scrub.getBoundingClientRect();
      const x = event.clientX - box.left;
      thumbAt((x / box.width) * (length() || 0), x);
    });
    scrub.addEventListener("mouseleave", () => { if (document.activeElement !== scrub) preview.hidden = true; });
    scrub.addEventListener("focus", fromValue);
    scrub.addEventListener("input", fromValue);
    scrub.addEventListener("blur", () => { preview.hidden = true; });
  }
  // -- transcript: what was said, each word a place to play from (and to correct) --
  setupTranscript(root, media, { seek, toggle, say, clock });
  show();
}

function setupAll() {
  const root = document.getElementById("player");
  if (root) setupPlayer(root);
}

setupAll();
// The processing panel swaps in a new viewer region once a playable copy exists.
new MutationObserver(setupAll).observe(document.getElementById("main") || document.body, {
  childList: true, subtree: true,
});
