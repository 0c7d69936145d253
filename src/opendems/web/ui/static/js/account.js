// The password strength meter on the account page: asks the server why a candidate
// password would be refused (the candidate is never stored).
import { api } from "./app.js";

const input = document.getElementById("new");
if (input) {
  const bar = document.getElementById("meter-bar");
  const out = document.getElementById("strength");
  const colours = ["#b00020", "#d9480f", "#e0a800", "#2f9e44", "#1f7a3a"];
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let s;
      try {
        s = await api("/account/password-strength", { method: "POST", json: { password: input.value } });
      } catch (_) {
        return;
      }
      bar.style.width = (s.score + 1) * 20 + "%";
      bar.style.background = colours[s.score];
      out.textContent = s.acceptable
        ? "Strong enough. " + (s.suggestions[0] || "")
        : s.problems.join(" ") + (s.suggestions.length ? " " + s.suggestions[0] : "");
    }, 200);
  });
  // Typed before this script ran (a slow connection): judge what is there now.
  if (input.value) input.dispatchEvent(new Event("input"));
}
