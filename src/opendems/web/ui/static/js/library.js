// The evidence library: filters without empty parameters in the URL, selection for bulk
// actions (select all, a live count, only the fields the chosen action needs), and focus
// kept in a sensible place when htmx swaps the results.

function clearEmptyParameters() {
  document.body.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.id !== "filters") return;
    const params = event.detail.parameters;
    for (const key of [...Object.keys(params)]) {
      if (params[key] === "" || params[key] === undefined) delete params[key];
    }
    for (const [key, value] of [["sort", "-created_at"], ["size", "25"], ["view", "table"]]) {
      if (params[key] === value) delete params[key];
    }
  });
}

function boxes() {
  return [...document.querySelectorAll('#bulk-form input[name="ids"]')];
}

function updateSelection() {
  const all = boxes();
  const chosen = all.filter((b) => b.checked).length;
  const count = document.getElementById("selected-count");
  if (count) {
    count.textContent = chosen
      ? `${chosen} of ${all.length} on this page selected.`
      : "Tick the items to change, then choose an action.";
  }
  const selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.hidden = false;
    selectAll.checked = all.length > 0 && chosen === all.length;
    selectAll.indeterminate = chosen > 0 && chosen < all.length;
  }
}

function showFieldsFor() {
  const action = document.getElementById("bulk-action");
  if (!action) return;
  for (const field of document.querySelectorAll("#bulk-actions [data-for]")) {
    field.hidden = !field.dataset.for.split(" ").includes(action.value);
  }
}

function setupSelection() {
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.id === "select-all") {
      for (const box of boxes()) box.checked = target.checked;
      updateSelection();
    } else if (target.name === "ids") {
      updateSelection();
    } else if (target.id === "bulk-action") {
      showFieldsFor();
    }
  });
}

function afterSwap() {
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "results") return;
    updateSelection();
    showFieldsFor();
    const count = document.getElementById("result-count");
    const status = document.getElementById("results-status");
    if (count && status) status.textContent = count.textContent.trim().replace(/\s+/g, " ");
    // A pager link that was swapped away leaves focus nowhere: put it on the new count.
    const active = document.activeElement;
    if (count && (!active || active === document.body || !document.contains(active))) count.focus();
  });
}

clearEmptyParameters();
setupSelection();
afterSwap();
updateSelection();
showFieldsFor();
