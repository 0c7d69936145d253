// OpenDEMS pages: the theme switch, the idle lock, and the CSRF token for scripts.
// Loaded on every page (type=module, so it runs after the document is parsed).

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** fetch() with the session's CSRF token and a JSON problem turned into an Error. */
export async function api(url, options = {}) {
  const headers = { "X-CSRF-Token": csrfToken(), ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const reply = await fetch(url, { credentials: "same-origin", ...options, headers });
  if (!reply.ok) {
    let message = `${reply.status} ${reply.statusText}`;
    try { message = (await reply.json()).detail || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return reply.status === 204 ? null : reply.json();
}

function setupTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const root = document.documentElement;
  const label = () => {
    const dark = root.dataset.theme === "dark" ||
      (!root.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
    button.textContent = dark ? "Light mode" : "Dark mode";
    button.setAttribute("aria-pressed", String(dark));
  };
  button.addEventListener("click", () => {
    const dark = button.getAttribute("aria-pressed") === "true";
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("opendems-theme", root.dataset.theme);
    label();
  });
  label();
}

// The server ends a session after the idle limit; the page locks itself at the same moment
// (after a warning a minute before) so an unattended screen shows no evidence. Activity in
// the page counts: while someone is reading or watching, a light request keeps the session.
function setupIdleLock() {
  const limit = Number(document.body.dataset.idleSeconds || 0) * 1000;
  if (!limit) return;
  const warning = document.getElementById("idle-warning");
  let last = Date.now(), lastPing = Date.now();
  const active = () => {
    last = Date.now();
    if (warning) warning.hidden = true;
    if (last - lastPing > Math.min(limit / 3, 5 * 60 * 1000)) {
      lastPing = last;
      fetch("/api/v1/me", { credentials: "same-origin" }).then((r) => {
        if (r.status === 401) lock();
      });
    }
  };
  const lock = () => {
    const next = location.pathname + location.search;
    location.assign(`/sign-in?m=locked&next=${encodeURIComponent(next)}`);
  };
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"]) {
    addEventListener(type, active, { passive: true });
  }
  setInterval(() => {
    const media = [...document.querySelectorAll("video, audio")].some((m) => !m.paused);
    if (media) active();
    const idle = Date.now() - last;
    if (idle >= limit) lock();
    else if (warning && idle >= limit - 60_000) warning.hidden = false;
  }, 1000);
}

// A background refresh (htmx polling) must not keep an unattended session alive.
function markBackgroundRequests() {
  document.body.addEventListener("htmx:configRequest", (event) => {
    const trigger = event.detail.elt && event.detail.elt.getAttribute("hx-trigger") || "";
    if (trigger.includes("every")) event.detail.headers["X-Opendems-Background"] = "1";
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
}

setupTheme();
setupIdleLock();
markBackgroundRequests();
