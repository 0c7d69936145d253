// Applied before the page paints, so a dark-mode user never sees a white flash.
(function () {
  const saved = localStorage.getItem("opendems-theme");
  if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
})();
