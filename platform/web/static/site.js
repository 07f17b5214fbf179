// Modules and settings: ticking a module ticks what it requires; unticking one that a ticked
// module still requires is undone, with the reason. The server checks the same on saving,
// so the form works without this file.
(function () {
  "use strict";

  function boxes(form) {
    var found = {};
    form.querySelectorAll("input[name=module]").forEach(function (box) {
      found[box.value] = box;
    });
    return found;
  }

  function say(form, text) {
    var status = form.querySelector("[data-module-status]");
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  }

  function tickRequirements(all, box, ticked) {
    (box.dataset.requires || "").split(" ").forEach(function (name) {
      var needed = all[name];
      if (!needed || needed.checked) return;
      needed.checked = true;
      ticked.push(name);
      tickRequirements(all, needed, ticked);
    });
  }

  function changed(event) {
    var box = event.target;
    var form = box.form;
    if (box.name !== "module" || !form) return;
    var all = boxes(form);
    if (box.checked) {
      var ticked = [];
      tickRequirements(all, box, ticked);
      say(form, ticked.length ? form.dataset.msgAdded.replace("{names}", ticked.join(", ")) : "");
      return;
    }
    var by = Object.keys(all).filter(function (name) {
      var other = all[name];
      return other.checked && (other.dataset.requires || "").split(" ").indexOf(box.value) >= 0;
    });
    if (by.length) {
      box.checked = true;
      say(form, form.dataset.msgRequired.replace("{name}", box.value).replace("{by}", by.join(", ")));
    } else {
      say(form, "");
    }
  }

  function setUp() {
    document.querySelectorAll("form.site-modules").forEach(function (form) {
      form.addEventListener("change", changed);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
