// Viewers for photos (the preview derivative, with zoom) and documents (page previews).
// Both work with buttons and with keys while the viewer has focus.

const ZOOMS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4];

function setupImage(root) {
  if (root.dataset.ready) return;
  root.dataset.ready = "1";
  const frame = root.querySelector("#image-frame");
  const img = root.querySelector("#preview-image");
  const level = root.querySelector("#zoom-level");
  let zoom = null; // null: fit the frame

  const apply = () => {
    frame.classList.toggle("fit", zoom === null);
    if (zoom === null) {
      img.style.width = "";
      level.textContent = "Fit";
    } else {
      img.style.width = `${Math.round(img.naturalWidth * zoom)}px`;
      level.textContent = `${Math.round(zoom * 100)}%`;
    }
    root.dataset.zoom = zoom === null ? "fit" : String(zoom);
  };
  const current = () => (zoom === null ? (img.clientWidth / (img.naturalWidth || 1)) : zoom);
  const zoomIn = () => { const z = current(); zoom = ZOOMS.find((v) => v > z + 0.001) ?? ZOOMS[ZOOMS.length - 1]; apply(); };
  const zoomOut = () => { const z = current(); zoom = [...ZOOMS].reverse().find((v) => v < z - 0.001) ?? ZOOMS[0]; apply(); };
  const fit = () => { zoom = null; apply(); };
  root.querySelector("#zoom-in").addEventListener("click", zoomIn);
  root.querySelector("#zoom-out").addEventListener("click", zoomOut);
  root.querySelector("#zoom-fit").addEventListener("click", fit);
  root.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = { "+": zoomIn, "=": zoomIn, "-": zoomOut, "_": zoomOut, "0": fit }[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  apply();
}

function setupPages(root) {
  if (root.dataset.ready) return;
  root.dataset.ready = "1";
  const pages = JSON.parse(root.dataset.pages || "[]");
  const total = Number(root.dataset.total) || pages.length;
  const img = root.querySelector("#page-image");
  const status = root.querySelector("#page-status");
  const prev = root.querySelector("#page-prev");
  const next = root.querySelector("#page-next");
  // A link to a page (a search hit in a scan's text: ?page=N) opens the document there.
  const wanted = Number(new URLSearchParams(window.location.search).get("page"));
  let at = Number.isInteger(wanted) && wanted >= 1 && wanted <= pages.length ? wanted - 1 : 0;
  const show = () => {
    img.src = root.dataset.base + pages[at];
    img.alt = `Page ${at + 1}`;
    const more = total > pages.length ? ` (previews of the first ${pages.length})` : "";
    status.textContent = `Page ${at + 1} of ${total}${more}`;
    prev.disabled = at === 0;
    next.disabled = at >= pages.length - 1;
    root.dataset.page = String(at + 1);
  };
  const go = (delta) => { at = Math.min(pages.length - 1, Math.max(0, at + delta)); show(); };
  prev.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));
  root.addEventListener("keydown", (event) => {
    const action = { PageUp: -1, PageDown: 1, ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (action && event.target.tagName !== "BUTTON") { event.preventDefault(); go(action); }
  });
  show();
}

function setupAll() {
  const image = document.getElementById("image-viewer");
  if (image) setupImage(image);
  const pages = document.getElementById("pdf-viewer");
  if (pages) setupPages(pages);
}

setupAll();
new MutationObserver(setupAll).observe(document.getElementById("main") || document.body, {
  childList: true, subtree: true,
});
