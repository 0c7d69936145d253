// -- the plan: load, find (the detector), save, render --------------------------------------
import { api } from "../app.js";
import { $, ed, say, trackById } from "./editor.js";
import { draw } from "./overlay.js";
import { listTracks } from "./tracks.js";
import { listAudio } from "./audio.js";
import { foundText, POLL_MS, pollJobs, watching } from "./jobs.js";
import { showPage } from "./pdf.js";

function show(view) {
  ed.plan = view.plan;
  ed.version = view.version;
  $("plan-version").textContent = `version ${ed.version} · ${view.note}`;
  $("no-plan").hidden = true;
  $("plan-controls").hidden = false;
  if ($("effect")) $("effect").value = ed.plan.effect;
  if ($("fail-secure")) $("fail-secure").checked = ed.plan.fail_secure.enabled;
  if ($("fail-secure-frames")) $("fail-secure-frames").textContent = ed.plan.fail_secure.frames.length;
  if (ed.selected && !trackById(ed.selected)) ed.selected = null;
  if (ed.isPdf) showPage(ed.page); // the page count is known now
  listTracks();
  listAudio();
  draw();
}

export async function load() {
  try {
    show(await api(`${ed.apiBase}/plan`));
    return true;
  } catch (err) {
    $("no-plan").hidden = false;
    if (!/no redaction plan/.test(err.message)) say(err.message, true);
    return false;
  }
}

async function waitForPlan() {
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    try { show(await api(`${ed.apiBase}/plan`)); say(foundText()); return; }
    catch (_) { /* not yet */ }
  }
}

export async function detect() {
  try {
    const queued = await api(`${ed.apiBase}/detect`, { method: "POST" });
    if (queued.job_id === null && (await load())) return; // it had run already
    if (queued.job_id !== null) watching.add(queued.job_id);
    say(ed.isPdf ? "Looking for personal data in the text… the boxes appear here when the search is done."
      : "Looking for faces… the plan appears here when the detector is done.");
    $("detect").disabled = true;
    if (!(await pollJobs())) waitForPlan();
  } catch (err) { say(err.message, true); }
}

export async function save() {
  if (!ed.plan) return;
  const reason = $("reason").value.trim();
  if (!reason) { say("Say why the plan changes before saving it.", true); $("reason").focus(); return; }
  try {
    const saved = await api(`${ed.apiBase}/plan`, { method: "PUT", json: { base_version: ed.version, reason, plan: ed.plan } });
    say(`Saved as version ${saved.version}.`);
    $("reason").value = "";
    await load();
  } catch (err) { say(err.message, true); }
}

export async function render() {
  try {
    const queued = await api(`${ed.apiBase}/render`, { method: "POST", json: {} });
    if (queued.job_id !== null) watching.add(queued.job_id);
    say(queued.job_id ? `Rendering version ${queued.version}… its progress is shown under the buttons.`
      : `Version ${queued.version} is rendered or being rendered already.`);
    if (!(await pollJobs()) && queued.job_id) say(`Rendering version ${queued.version}… the copy appears on the item's page when done.`);
  } catch (err) { say(err.message, true); }
}
