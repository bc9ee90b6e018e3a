// The invitation page's "Copy the invitation" button: copies the text of the element its
// data-copy names and says so in the status beside it. Without a clipboard (an insecure
// origin, an old browser) it selects the text for the person to copy themselves.
"use strict";

document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.value);
      if (status) status.textContent = "Copied.";
    } catch {
      source.focus();
      source.select();
      if (status) status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  });
});
