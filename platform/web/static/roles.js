// Roles administration: tick a whole module's actions at once, and mark the selects the
// user changed before saving. The forms work without this file.
(function () {
  "use strict";

  function setUpGroup(group) {
    var button = group.querySelector("[data-toggle-group]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var boxes = Array.from(group.querySelectorAll("input[type=checkbox]"));
      var tick = boxes.some(function (box) { return !box.checked; });
      boxes.forEach(function (box) { box.checked = tick; });
    });
  }

  function markChanged(event) {
    var select = event.target;
    if (select.tagName !== "SELECT" || !select.hasAttribute("data-shown")) return;
    select.classList.toggle("changed", select.value !== select.dataset.shown);
  }

  function setUp() {
    document.querySelectorAll("[data-action-group]").forEach(setUpGroup);
    document.addEventListener("change", markChanged);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
