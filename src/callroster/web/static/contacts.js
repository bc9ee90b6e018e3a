// The administrator's portal: import a contact list (CSV: name,phone[,email]; or vCard) from
// a file, through the API with the session's CSRF token. All or nothing: any bad line is
// named and nothing is imported.
"use strict";
(() => {
  const form = document.getElementById("contacts-form");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const note = document.getElementById("contacts-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) { note.textContent = "Choose a CSV or vCard file first."; return; }
    const vcard = /\.vcf$/i.test(file.name) || file.type.includes("vcard");
    note.textContent = "Importing…";
    try {
      const response = await fetch("/api/v1/contacts", {
        method: "POST",
        headers: { "Content-Type": vcard ? "text/vcard" : "text/csv", "X-CSRF-Token": csrf },
        body: await file.text(),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        note.textContent = `${body.imported} contacts imported.`;
      } else if (body.detail && body.detail.problems) {
        note.textContent = `Nothing was imported: ${body.detail.problems.join("; ")}`;
      } else {
        note.textContent = `Nothing was imported: ${body.detail || response.statusText}`;
      }
    } catch (error) {
      note.textContent = `Could not reach the service (${error.message}).`;
    }
  });
})();
