// The text read from a photo or a document (OCR): one block per page, each line as read.
// A link to a page (a search hit in a scan: ?page=N) scrolls its text into view.

function pageBlock(page, several) {
  const block = document.createElement("section");
  block.className = "item-text-page";
  block.id = `text-page-${page.page}`;
  if (several) {
    const title = document.createElement("h3");
    title.textContent = `Page ${page.page}`;
    block.append(title);
  }
  const lines = (page.lines || []).map((line) => line.text ?? (line.words || []).map((w) => w.t).join(" "));
  const body = document.createElement("p");
  if (lines.length) {
    lines.forEach((text, n) => { if (n) body.append(document.createElement("br")); body.append(text); });
  } else {
    body.className = "muted";
    body.textContent = page.note ? `Not read: ${page.note}` : "No text found on this page.";
  }
  block.append(body);
  return block;
}

async function load(root) {
  if (root.dataset.ready) return;
  root.dataset.ready = "1";
  try {
    const response = await fetch(root.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const text = await response.json();
    const pages = (text.pages || []).filter((p) => p.source !== "skipped" || p.note);
    root.replaceChildren(...pages.map((p) => pageBlock(p, text.unit === "pt")));
    const wanted = new URLSearchParams(window.location.search).get("page");
    const target = wanted && document.getElementById(`text-page-${Number(wanted)}`);
    if (target) target.scrollIntoView({ block: "start" });
  } catch (e) {
    root.replaceChildren(Object.assign(document.createElement("p"), {
      className: "error", textContent: `The text could not be loaded (${e.message}).`,
    }));
  }
}

function setup() {
  const root = document.getElementById("item-text-pages");
  if (root) load(root);
}

setup();
new MutationObserver(setup).observe(document.getElementById("main") || document.body, { childList: true, subtree: true });
