// Starts ReDoc on the page's element (no inline script: the page's CSP forbids them).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("redoc");
  Redoc.init(element.dataset.openapiUrl, { hideDownloadButton: false }, element);
});
