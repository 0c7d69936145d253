// The upload page: many files and whole folders, each sent with tus (resumable), a few at a
// time. A dropped network pauses the files and resumes them when it comes back; after a
// reload, choosing the same file again resumes it where the server stopped.
import { api, csrfToken } from "./app.js";

const ENDPOINT = "/api/v1/uploads";
const CONCURRENT = 3;
const CHUNK = 4 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
const BUSY = new Set(["queued", "uploading", "committing", "offline"]);
const LABELS = {
  queued: "queued", uploading: "uploading", paused: "paused", offline: "paused (offline)",
  committing: "committing", done: "done", duplicate: "duplicate", failed: "failed", cancelled: "cancelled",
};
const BADGE = {
  queued: "plain", uploading: "info", paused: "warn", offline: "warn", committing: "info",
  done: "ok", duplicate: "ok", failed: "bad", cancelled: "plain",
};

const $ = (id) => document.getElementById(id);
const entries = [];
let counter = 0;

// Binary units, as everywhere else in OpenDEMS (the evidence page, reports, the command line).
function human(bytes) {
  if (bytes < 1024) return `${bytes.toLocaleString("en-US")} byte${bytes === 1 ? "" : "s"}`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let n = bytes / 1024, u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${n.toFixed(1)} ${units[u]}`;
}

function announce(text) {
  const live = $("upload-announce");
  if (live) live.textContent = text;
}

/** Upload-Metadata for one file: the batch fields as the tus endpoint understands them. */
function metadataFor(file) {
  const meta = { filename: file.name };
  for (const [id, key] of [["batch-case", "case"], ["batch-category", "category"], ["batch-officer", "officer"],
    ["batch-device", "device"], ["batch-tags", "tags"], ["batch-restriction", "restriction"]]) {
    const field = $(id);
    const value = field ? field.value.trim() : "";
    if (value && !(key === "restriction" && value === "normal")) meta[key] = value;
  }
  return meta;
}

function serverMessage(err) {
  const response = err && err.originalResponse;
  if (response) {
    try {
      const body = JSON.parse(response.getBody() || "{}");
      if (body.detail) return body.detail;
    } catch (_) { /* not JSON */ }
    return `the server answered ${response.getStatus()}`;
  }
  return (err && err.message) || "the upload failed";
}

class Entry {
  constructor(file) {
    this.file = file;
    this.n = ++counter;
    this.sent = 0;
    this.state = "queued";
    this.upload = null;
    this.resumedShown = false;
    this.row = this.render();
  }

  render() {
    const li = document.createElement("li");
    li.className = "upload-row";
    li.id = `upload-${this.n}`;
    li.dataset.name = this.file.name;
    const shown = this.file.webkitRelativePath || this.file.relativePath || this.file.name;
    li.innerHTML = `
      <div><span class="name"></span> <span class="size"></span></div>
      <div class="bar"><progress max="100" value="0"></progress><span class="percent">0%</span>
        <span class="badge state"></span></div>
      <div class="row-actions">
        <button type="button" class="secondary pause">Pause</button>
        <button type="button" class="secondary cancel">Cancel</button>
      </div>
      <p class="message"></p>
      <p class="receipt" hidden>Evidence <a class="receipt-id"></a> · SHA-256
        <span class="hash receipt-sha256"></span></p>`;
    li.querySelector(".name").textContent = shown;
    li.querySelector(".size").textContent = human(this.file.size);
    li.querySelector("progress").setAttribute("aria-label", `Progress of ${shown}`);
    li.querySelector(".pause").setAttribute("aria-label", `Pause ${shown}`);
    li.querySelector(".cancel").setAttribute("aria-label", `Cancel ${shown}`);
    li.querySelector(".pause").addEventListener("click", () => this.togglePause());
    li.querySelector(".cancel").addEventListener("click", () => this.cancel());
    $("upload-list").appendChild(li);
    return li;
  }

  set(state, message) {
    this.state = state;
    this.row.dataset.state = state;
    const badge = this.row.querySelector(".state");
    badge.className = `badge state ${BADGE[state]}`;
    badge.textContent = LABELS[state];
    if (message !== undefined) this.row.querySelector(".message").textContent = message;
    const pause = this.row.querySelector(".pause");
    const ended = ["done", "duplicate", "cancelled"].includes(state);
    pause.hidden = ended || state === "committing";
    pause.textContent = state === "paused" ? "Resume" : state === "failed" ? "Retry" : "Pause";
    this.row.querySelector(".cancel").hidden = ended || state === "committing";
    totals();
  }

  progress(sent) {
    this.sent = sent;
    const pct = this.file.size ? Math.floor((sent / this.file.size) * 100) : 100;
    this.row.querySelector("progress").value = pct;
    this.row.querySelector(".percent").textContent = `${pct}%`;
    totals();
  }

  async start() {
    this.set("uploading");
    const upload = new tus.Upload(this.file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK,
      retryDelays: RETRY_DELAYS,
      headers: { "X-CSRF-Token": csrfToken() },
      metadata: metadataFor(this.file),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onShouldRetry: (err) => {
        if (!navigator.onLine) return false; // paused until the browser is back online
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return !(status >= 400 && status < 500) || status === 409 || status === 423;
      },
      onAfterResponse: (req, res) => this.afterResponse(req, res),
      onProgress: (sent, total) => {
        this.progress(sent);
        if (sent >= total && this.state === "uploading") this.set("committing", "Checking and storing the file…");
        else if (this.state === "offline") this.set("uploading", "");
      },
      onError: (err) => this.failed(err),
      onSuccess: (payload) => this.succeeded(payload.lastResponse),
    });
    this.upload = upload;
    try {
      const previous = await upload.findPreviousUploads();
      if (previous.length) {
        previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
        upload.resumeFromPreviousUpload(previous[0]);
        this.resuming = true;
      }
    } catch (_) { /* no stored uploads: start afresh */ }
    upload.start();
  }

  afterResponse(req, res) {
    if (req.getMethod() === "HEAD" && this.resuming && !this.resumedShown && res.getStatus() === 200) {
      const offset = Number(res.getHeader("Upload-Offset") || 0);
      const pct = this.file.size ? Math.floor((offset / this.file.size) * 100) : 0;
      this.resumedShown = true;
      this.progress(offset);
      this.row.dataset.resumedAt = String(offset);
      this.resumedNote = `Resumed at ${pct}%`;
      this.row.querySelector(".message").textContent = this.resumedNote;
      announce(`${this.file.name}: resumed at ${pct}%`);
    }
    if (req.getMethod() === "PATCH" && res.getStatus() === 204) {
      const id = res.getHeader("OpenDEMS-Evidence-Id");
      if (id) this.receiptFromServer = {
        id, sha256: res.getHeader("OpenDEMS-SHA256"), duplicate: res.getHeader("OpenDEMS-Duplicate") === "true",
      };
    }
  }

  async succeeded() {
    this.progress(this.file.size);
    this.set("committing");
    let receipt = this.receiptFromServer;
    try {
      if (!receipt) receipt = await this.askServer();
    } catch (err) {
      this.set("failed", err.message);
      next();
      return;
    }
    this.showReceipt(receipt);
    next();
  }

  /** The receipt when the last response did not carry it (the upload was already whole). */
  async askServer() {
    const url = this.upload.url;
    for (let tries = 0; tries < 60; tries++) {
      const status = await api(url);
      if (status.status === "failed") throw new Error(status.error || "the server refused the file");
      if (status.evidence_id) {
        const item = await api(`/api/v1/evidence/${encodeURIComponent(status.evidence_id)}`);
        return { id: item.id, sha256: item.original ? item.original.sha256 : "", duplicate: status.duplicate };
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    throw new Error("the server did not report the stored evidence in time");
  }

  showReceipt(receipt) {
    const link = this.row.querySelector(".receipt-id");
    link.textContent = receipt.id;
    link.href = `/evidence/${encodeURIComponent(receipt.id)}`;
    this.row.querySelector(".receipt-sha256").textContent = receipt.sha256;
    this.row.querySelector(".receipt").hidden = false;
    this.row.dataset.evidenceId = receipt.id;
    this.row.dataset.sha256 = receipt.sha256;
    const note = receipt.duplicate ? "Already held: this is the existing item with the same SHA-256."
      : (this.resumedNote || "");
    this.set(receipt.duplicate ? "duplicate" : "done", note);
    announce(`${this.file.name} is stored as ${receipt.id}`);
  }

  failed(err) {
    if (this.state === "cancelled" || this.state === "paused") return;
    if (!navigator.onLine) {
      this.set("offline", "The network is gone; the upload goes on when it is back.");
      return;
    }
    this.set("failed", serverMessage(err));
    next();
  }

  togglePause() {
    if (this.state === "paused" || this.state === "failed") {
      if (!this.upload) { this.set("queued", ""); next(); return; }
      this.set("uploading", "");
      this.upload.start();
    } else if (this.state === "queued") {
      this.set("paused");
    } else if (this.upload) {
      this.set("paused", "");
      this.upload.abort(false);
      next();
    }
  }

  async cancel() {
    const upload = this.upload;
    const was = this.state;
    this.set("cancelled", "Cancelled: nothing of this file is kept.");
    if (upload && was !== "queued") {
      try {
        await upload.abort(true);
      } catch (_) {
        this.row.querySelector(".message").textContent = "Cancelled here; the server drops the partial file when it expires.";
      }
    }
    next();
  }
}

function next() {
  const running = entries.filter((e) => e.state === "uploading" || e.state === "committing").length;
  let free = CONCURRENT - running;
  for (const e of entries) {
    if (free <= 0) break;
    if (e.state === "queued") { free--; e.start(); }
  }
  totals();
}

let lastSpoken = 0;
function totals() {
  const live = entries.filter((e) => e.state !== "cancelled");
  const size = live.reduce((s, e) => s + e.file.size, 0);
  const sent = live.reduce((s, e) => s + e.sent, 0);
  const pct = size ? Math.floor((sent / size) * 100) : 0;
  $("total-progress").value = pct;
  const done = live.filter((e) => e.state === "done" || e.state === "duplicate").length;
  const failed = live.filter((e) => e.state === "failed").length;
  const now = Date.now();
  const text = `${pct}% of ${human(size)} · ${done} of ${live.length} files stored` +
    (failed ? ` · ${failed} failed` : "");
  const total = $("total-text");
  // A screen reader hears the total at most every few seconds, and always at the end.
  if (now - lastSpoken > 3000 || done + failed === live.length) {
    total.textContent = text;
    lastSpoken = now;
  }
  total.dataset.percent = String(pct);
}

function add(files) {
  const list = [...files].filter((f) => f.size > 0 || f.name);
  if (!list.length) return;
  $("uploads").hidden = false;
  for (const f of list) entries.push(new Entry(f));
  announce(`${list.length} file${list.length === 1 ? "" : "s"} added`);
  next();
}

// Dropped folders: walk every entry, however deep.
function readAll(reader) {
  return new Promise((resolve, reject) => {
    const all = [];
    const more = () => reader.readEntries((batch) => {
      if (!batch.length) resolve(all);
      else { all.push(...batch); more(); }
    }, reject);
    more();
  });
}

async function walk(entry, path = "") {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    try { Object.defineProperty(file, "relativePath", { value: path + file.name }); } catch (_) { /* read-only */ }
    return [file];
  }
  if (entry.isDirectory) {
    const children = await readAll(entry.createReader());
    const nested = await Promise.all(children.map((c) => walk(c, `${path}${entry.name}/`)));
    return nested.flat();
  }
  return [];
}

async function dropped(event) {
  const items = [...(event.dataTransfer.items || [])];
  const roots = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (roots.length && roots.every((r) => r)) {
    const files = (await Promise.all(roots.map((r) => walk(r)))).flat();
    add(files);
  } else {
    add(event.dataTransfer.files);
  }
}

function setup() {
  const zone = $("drop-zone");
  const input = $("file-input");
  const folder = $("folder-input");
  if (!zone || !input || typeof tus === "undefined") return;
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    dropped(e).catch((err) => announce(`The dropped files could not be read: ${err.message}`));
  });
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  folder.addEventListener("change", () => { add(folder.files); folder.value = ""; });
  addEventListener("online", () => {
    for (const e of entries) {
      if (e.state === "offline" && e.upload) { e.set("uploading", "Back online: going on."); e.upload.start(); }
    }
    next();
  });
  addEventListener("beforeunload", (event) => {
    if (entries.some((e) => BUSY.has(e.state))) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
}

setup();
