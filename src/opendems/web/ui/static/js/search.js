// The search page: after htmx swaps the results (a facet link, the pager, the back button),
// the query box and the order say what was searched; the count is announced and focused.

function syncForm() {
  const state = document.getElementById("search-state");
  if (!state) return;
  const box = document.getElementById("search-q");
  const sort = document.getElementById("search-sort");
  if (box && box.value !== state.dataset.q) box.value = state.dataset.q;
  if (sort && state.dataset.sort && sort.value !== state.dataset.sort) sort.value = state.dataset.sort;
}

function announce() {
  const status = document.getElementById("search-status");
  const error = document.getElementById("search-error");
  const count = document.getElementById("search-count");
  if (status) status.textContent = error ? error.textContent.trim() : count ? count.textContent.trim() : "";
}

// Choosing an order replaces one written in the query (which would otherwise win).
function orderFromTheSelect() {
  document.body.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.id !== "search-form") return;
    const trigger = event.detail.triggeringEvent;
    if (!trigger || !trigger.target || trigger.target.id !== "search-sort") return;
    const params = event.detail.parameters;
    const q = String(params.q || "").replace(/(^|[\s(])sort:("[^"]*"|\S*)/gi, "$1").replace(/\s+/g, " ").trim();
    params.q = q;
    const box = document.getElementById("search-q");
    if (box) box.value = q;
  });
}

document.body.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id !== "search-results") return;
  syncForm();
  announce();
  const trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (trigger && trigger.id !== "search-form") {
    const count = document.getElementById("search-count") || document.getElementById("search-error");
    if (count) count.focus({ preventScroll: false });
  }
});
orderFromTheSelect();
