// The home page: the processing queue refreshes itself (htmx polling); its one-line summary
// sits in a live region that is only rewritten when the summary really changes, so a screen
// reader hears "2 running" -> "Processing finished", not every progress step.

document.body.addEventListener("htmx:afterSettle", () => {
  const queue = document.getElementById("queue");
  const summary = document.getElementById("queue-summary");
  if (!queue || !summary) return;
  const text = queue.dataset.summary || "";
  if (summary.textContent !== text) summary.textContent = text;
});
