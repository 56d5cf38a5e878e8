/* Copy buttons of the settings page: the only script, loaded from /settings/static/ (CSP). */
"use strict";

(function () {
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyText(text, element) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    selectText(element);  /* plain-HTTP pages: the older selection API */
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
  }

  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var element = document.getElementById(button.getAttribute("data-copy"));
    if (!element) { return; }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = element.textContent.trim();
      copyText(text, element).then(function () {
        document.documentElement.setAttribute("data-copied", text);
        button.textContent = button.getAttribute("data-done");
        setTimeout(function () { button.textContent = label; }, 2000);
      }, function () {
        selectText(element);  /* copying refused: leave the text selected for Ctrl+C */
      });
    });
  });
}());
