// -- the detector's and the renders' progress -------------------------------------------
import { api } from "../app.js";
import { $, ed, say } from "./editor.js";
import { load } from "./plan-api.js";

export const POLL_MS = 1000;

function etaText(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

const jobRows = new Map(); // job id -> {li, job}
export const watching = new Set(); // jobs this page started: told when they end, however fast
let jobsSupported = true;
let jobTimer = null;
let polling = false, pollAgain = false;
const isActive = (job) => job.state === "queued" || job.state === "running";
const jobName = (job) => (job.kind === "detect" ? (ed.isPdf ? "Finding personal data" : "Finding faces")
  : `Render of version ${job.version}`);
export const foundText = () => (ed.isPdf ? `${ed.plan.tracks.length} place(s) of personal data found: review the boxes, then save and render.`
  : "Faces found: review the tracks, then save and render.");

/** Read the jobs once and show them; polls on while one is queued or running. False when
 * the server has no jobs endpoint (the page then works without progress). */
export async function pollJobs() {
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
    const reply = await fetch(`${ed.apiBase}/jobs`, { credentials: "same-origin" });
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
  const shown = jobs.filter((j) => j.kind === "render" || isActive(j) || (j.state === "failed" && !ed.plan))
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
    link.href = `${ed.derivatives}${job.derivative}`;
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
  a.href = `${ed.derivatives}${kind}`;
  a.textContent = kind;
  li.append(a);
  list.prepend(li);
  $("renders-heading").hidden = false;
}

async function cancelJob(id, button) {
  button.disabled = true;
  try {
    await api(`${ed.apiBase}/jobs/${id}/cancel`, { method: "POST" }); // the next read says so
  } catch (err) {
    say(err.message, true);
  } finally {
    button.disabled = false;
    pollJobs();
  }
}
