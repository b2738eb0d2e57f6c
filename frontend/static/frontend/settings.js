// Settings pages: copy a one-time link or token, confirm destructive buttons.
// Everything works without this script: the secret is selectable text and forms submit as usual.
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copy + "-status");
    if (!field) return;
    button.hidden = false;
    function say(text) { if (status) status.textContent = text; }
    function fallback() {
      // Plain-HTTP pages (an intranet install) have no Clipboard API.
      field.focus();
      field.select();
      try { say(document.execCommand("copy") ? button.dataset.copied : button.dataset.failed); }
      catch (error) { say(button.dataset.failed); }
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { say(button.dataset.copied); }, fallback);
      } else {
        fallback();
      }
    });
  });

  document.querySelectorAll("input[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
