// The hmnet book's own script (staged into _static with hmnet.css; Jupyter Book adds it to every page).
// pydata-sphinx-theme reads the colour mode from localStorage; on a reader's first visit there is none, the
// page starts with an empty mode and the theme logs "Got invalid theme mode" before falling back to "auto".
// Start from "auto" directly (this runs before the theme's deferred script).
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = "auto";
}
