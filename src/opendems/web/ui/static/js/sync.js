// The synchronised multi-camera player of a case.
//
// One master clock runs over the incident's span (earliest start to latest end, in seconds
// from the case's first capture). Each camera sits on that clock at its offset (its capture
// start, plus a clock correction the user may nudge): its own time is master - offset.
// Before its start a camera shows "not yet recording", after its end "ended". While playing,
// any camera more than DRIFT seconds away from where the master says it should be is put
// back; the master waits (briefly) for a camera that is still loading, so they stay in step.

const DRIFT = 0.15; // seconds a camera may wander before it is put back
const CHECK_EVERY = 400; // ms between drift checks while playing
const MAX_WAIT = 3000; // ms the master holds for a camera that is buffering

const root = document.getElementById("sync-player");
if (root) setup(root);

function pad(n, width = 2) {
  return String(Math.floor(n)).padStart(width, "0");
}

/** +m:ss.s (or −m:ss.s) for an offset in seconds. */
export function formatOffset(s) {
  const sign = s < 0 ? "−" : "+";
  const a = Math.abs(s);
  const tenths = Math.floor((a * 10) % 10 + 1e-6);
  return `${sign}${Math.floor(a / 60)}:${pad(a % 60)}.${tenths}`;
}

function setup(root) {
  const origin = root.dataset.origin ? Date.parse(root.dataset.origin) : NaN;
  const el = (id) => document.getElementById(id);
  const playButton = el("sync-play");
  const scrub = el("sync-scrub");
  const clock = el("sync-clock");
  const offsetText = el("sync-offset");
  const status = el("sync-status");
  const speed = el("sync-speed");

  const cams = [...root.querySelectorAll(".sync-cell")].map((cell) => ({
    id: cell.dataset.evidence,
    cell,
    video: cell.querySelector("video"),
    state: cell.querySelector(".sync-state"),
    nudgeOut: cell.querySelector("output"),
    base: cell.dataset.offset === "" ? null : Number(cell.dataset.offset),
    nudge: 0,
    known: Number(cell.dataset.duration) || 0,
    fps: Number(cell.dataset.fps) || 30,
    active: false,
  }));
  const placed = () => cams.filter((c) => c.base !== null);
  const offsetOf = (c) => c.base + c.nudge;
  const durationOf = (c) => (Number.isFinite(c.video.duration) && c.video.duration > 0 ? c.video.duration : c.known);

  let start = 0, end = 0, t = 0, playing = false, rate = 1;
  let last = performance.now(), lastCheck = 0, waitingSince = 0;

  function span() {
    const list = placed();
    start = Math.min(0, ...list.map(offsetOf));
    end = Math.max(start, ...list.map((c) => offsetOf(c) + durationOf(c)));
    scrub.min = String(start);
    scrub.max = String(end);
  }

  function wallClock(s) {
    if (Number.isNaN(origin)) return "—";
    return new Date(origin + s * 1000).toISOString().slice(11, 19) + " UTC";
  }

  function show() {
    const wall = wallClock(t);
    clock.textContent = wall;
    offsetText.textContent = `${formatOffset(t)} of ${formatOffset(end).slice(1)}`;
    scrub.value = String(t);
    scrub.setAttribute("aria-valuetext", `${wall}, ${formatOffset(t)}`);
    root.dataset.t = t.toFixed(3);
    root.dataset.playing = String(playing);
    playButton.textContent = playing ? "Pause" : "Play";
  }

  function say(message) {
    status.textContent = message;
  }

  // Put one camera where the master says (hard = a seek: always move it).
  function place(c, hard) {
    const local = t - offsetOf(c);
    const length = durationOf(c);
    const before = local < 0;
    const after = length > 0 && local >= length - 0.01;
    c.active = !before && !after;
    const text = before
      ? `Not yet recording (starts in ${(-local).toFixed(1)} s)`
      : after ? "Ended" : "";
    if (c.state.textContent !== text) c.state.textContent = text;
    c.video.playbackRate = rate;
    if (!c.active) {
      if (!c.video.paused) c.video.pause();
      const rest = before ? 0 : length;
      if (hard && Math.abs(c.video.currentTime - rest) > 0.05) c.video.currentTime = rest;
      return;
    }
    if (hard || (!c.video.seeking && Math.abs(c.video.currentTime - local) > DRIFT)) {
      c.video.currentTime = local;
    }
    if (playing && c.video.paused) {
      c.video.play().catch((error) => {
        if (error.name === "NotAllowedError" && !c.video.muted) {
          c.video.muted = true; // the browser refused sound without a gesture: play silently
          say("The browser held back the sound; choose the camera's sound again to hear it.");
          c.video.play().catch(() => {});
        }
      });
    } else if (!playing && !c.video.paused) {
      c.video.pause();
    }
  }

  function seek(to) {
    t = Math.min(Math.max(to, start), end);
    for (const c of placed()) place(c, true);
    show();
  }

  function setPlaying(on) {
    if (on && t >= end) t = start; // from the top again
    playing = on;
    last = performance.now();
    for (const c of placed()) place(c, !on);
    show();
    say(on ? "Playing" : `Paused at ${wallClock(t)}`);
  }

  // A camera that is on but cannot play yet (loading, seeking) holds the master a while.
  function buffering() {
    return placed().some((c) => c.active && (c.video.seeking || c.video.readyState < 3));
  }

  function tick() {
    const now = performance.now();
    if (playing) {
      const hold = buffering();
      if (hold && !waitingSince) waitingSince = now;
      if (!hold) waitingSince = 0;
      if (!hold || now - waitingSince > MAX_WAIT) t += ((now - last) / 1000) * rate;
      if (t >= end) {
        t = end;
        setPlaying(false);
      }
      const check = now - lastCheck > CHECK_EVERY;
      if (check) lastCheck = now;
      for (const c of placed()) {
        // Starting or stopping is immediate; drift is looked at every CHECK_EVERY ms.
        const local = t - offsetOf(c);
        const shouldRun = local >= 0 && (durationOf(c) <= 0 || local < durationOf(c) - 0.01);
        if (check || shouldRun !== c.active) place(c, false);
      }
    }
    last = now;
    show();
  }

  function frameStep(direction) {
    if (playing) setPlaying(false);
    const audio = cams.find((c) => !c.video.muted) || placed()[0];
    seek(t + direction / (audio ? audio.fps : 30));
  }

  function chooseAudio(id) {
    for (const c of cams) {
      c.video.muted = c.id !== id;
      c.cell.classList.toggle("audio-on", c.id === id);
    }
    if (playing) for (const c of placed()) place(c, false);
  }

  playButton.addEventListener("click", () => setPlaying(!playing));
  el("sync-back").addEventListener("click", () => seek(t - 5));
  el("sync-fwd").addEventListener("click", () => seek(t + 5));
  el("sync-frame-back").addEventListener("click", () => frameStep(-1));
  el("sync-frame-fwd").addEventListener("click", () => frameStep(1));
  scrub.addEventListener("input", () => seek(Number(scrub.value)));
  speed.addEventListener("change", () => {
    rate = Number(speed.value) || 1;
    for (const c of placed()) c.video.playbackRate = rate;
    say(`Speed ${rate}×`);
  });
  for (const radio of document.querySelectorAll('input[name="sync-audio"]')) {
    radio.addEventListener("change", () => radio.checked && chooseAudio(radio.value));
  }
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-nudge]");
    if (!button) return;
    const c = cams.find((x) => x.cell.contains(button));
    c.nudge = Math.round((c.nudge + Number(button.dataset.nudge)) * 10) / 10;
    c.nudgeOut.textContent = `${c.nudge > 0 ? "+" : c.nudge < 0 ? "−" : "±"}${Math.abs(c.nudge).toFixed(1)} s`;
    span();
    seek(t);
    say(`${c.id} moved ${c.nudgeOut.textContent}`);
  });
  for (const button of document.querySelectorAll("button[data-place]")) {
    button.addEventListener("click", () => {
      const c = cams.find((x) => x.id === button.dataset.place);
      c.base = 0;
      c.cell.hidden = false;
      button.disabled = true;
      button.textContent = "Placed at the start";
      span();
      seek(t);
      say(`${c.id} placed at the start of the incident`);
    });
  }
  for (const c of cams) {
    c.video.addEventListener("loadedmetadata", () => {
      span();
      if (c.base !== null) place(c, true);
      show();
    });
  }

  // Keyboard: Space play/pause, arrows five seconds, comma and full stop one frame.
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    // The scrub bar takes the player's keys (its own arrows would move a hundredth of a second).
    if (target !== scrub && target.closest && target.closest("input, select, textarea, [contenteditable]")) return;
    const onControl = target.closest && target.closest("button, a, summary");
    const actions = {
      " ": () => setPlaying(!playing),
      ArrowLeft: () => seek(t - 5),
      ArrowRight: () => seek(t + 5),
      ",": () => frameStep(-1),
      ".": () => frameStep(1),
    };
    if (event.key === " " && onControl) return; // the focused control's own Space
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  const first = document.querySelector('input[name="sync-audio"]:checked');
  chooseAudio(first ? first.value : "");
  span();
  seek(start);
  setInterval(tick, 50);
}
