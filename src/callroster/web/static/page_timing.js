// Page timing: loaded by the layout only with performance consent (web/page_timing.py). Once
// the page has loaded, it posts how long that took, and which kind of page it was (the route
// template the layout put in data-page, never this page's address). No cookie, no id.
"use strict";
(() => {
  const page = document.currentScript && document.currentScript.dataset.page;
  if (!page) return;
  const send = () => {
    const [navigation] = performance.getEntriesByType("navigation");
    if (!navigation || !(navigation.loadEventEnd > 0)) return;
    fetch("/api/v1/page-timing", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ page, seconds: navigation.loadEventEnd / 1000 }),
      credentials: "same-origin",
      keepalive: true,
    }).catch(() => {});
  };
  window.addEventListener("load", () => setTimeout(send, 0));
})();
