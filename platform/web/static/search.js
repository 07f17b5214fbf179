// The layout's search box: "/" focuses it from anywhere but a text field, Escape closes its
// suggestions, and the arrow keys move between the suggested links. No inline script (CSP).
(function () {
  "use strict";

  function box() {
    return document.querySelector("[data-search-box]");
  }

  function suggestions() {
    return document.getElementById("site-search-suggestions");
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function links() {
    var panel = suggestions();
    return panel ? Array.from(panel.querySelectorAll("a")) : [];
  }

  function close() {
    var panel = suggestions();
    if (panel) panel.replaceChildren();
  }

  document.addEventListener("keydown", function (event) {
    var input = box();
    if (!input) return;
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      event.preventDefault();
      input.focus();
      input.select();
      return;
    }
    var inside = input.form && input.form.contains(event.target);
    if (!inside) return;
    if (event.key === "Escape") {
      close();
      input.focus();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var found = links();
      if (!found.length) return;
      event.preventDefault();
      var at = found.indexOf(document.activeElement);
      var next = event.key === "ArrowDown" ? at + 1 : at - 1;
      if (next < 0) {
        input.focus();
      } else {
        found[Math.min(next, found.length - 1)].focus();
      }
    }
  });

  document.addEventListener("focusout", function (event) {
    var input = box();
    if (!input || !input.form) return;
    var form = input.form;
    // Close the suggestions once focus has left the box and its list.
    window.setTimeout(function () {
      if (!form.contains(document.activeElement)) close();
    }, 150);
  });
})();
