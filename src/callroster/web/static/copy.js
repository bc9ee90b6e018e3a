// Copy buttons (a PIN, a dial-in number, a room link): the text is in data-copy; the button
// says "Copied" for two seconds, which screen readers hear through the polite live region.
"use strict";
(() => {
  const live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("aria-live", "polite");
  document.body.append(live);
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
      live.textContent = `Copied ${button.dataset.copy}`;
    } catch {
      button.textContent = "Copy it by hand";
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
})();
