// Administration pages: copy a one-time secret (token or password) to the clipboard, and ask
// before an action that cannot be undone (forms marked data-confirm).

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function withTimeout(promise, ms) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), ms)),
  ]);
}

function setupCopy() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.querySelector(button.dataset.copy);
    const status = document.getElementById(`${source.id}-copied`);
    button.addEventListener("click", async () => {
      // Selected at once, so Ctrl+C works whatever the clipboard answers.
      selectText(source);
      try {
        await withTimeout(navigator.clipboard.writeText(source.textContent.trim()), 2000);
        if (status) status.textContent = "Copied.";
      } catch (_) {
        // No clipboard (an insecure origin, permission refused, or no answer): Ctrl+C it.
        if (status) status.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
      }
    });
    button.hidden = false;
  }
}

function setupConfirm() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

setupCopy();
setupConfirm();
