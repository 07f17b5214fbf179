// Pickers of form fields (openitsm.web.pickers): picking a user from the searched options.
(function () {
  "use strict";

  function closeOptions(picker) {
    var options = picker.querySelector("[data-picker-options]");
    if (options) options.innerHTML = "";
  }

  function pick(picker, id, label) {
    var hidden = picker.querySelector("input[data-picked]");
    var shown = picker.querySelector("[data-picked-label]");
    var search = picker.querySelector("input[type=search]");
    hidden.value = id;
    shown.textContent = label || shown.dataset.empty || "";
    if (search) search.value = "";
    closeOptions(picker);
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-user-picker] [data-pick]");
    if (option) {
      event.preventDefault();
      pick(option.closest("[data-user-picker]"), option.dataset.pick, option.dataset.label);
      return;
    }
    var clear = event.target.closest("[data-user-picker] [data-picker-clear]");
    if (clear) {
      event.preventDefault();
      pick(clear.closest("[data-user-picker]"), "", "");
    }
  });

  document.addEventListener("keydown", function (event) {
    var search = event.target.closest && event.target.closest("[data-user-picker] input[type=search]");
    if (!search) return;
    var picker = search.closest("[data-user-picker]");
    if (event.key === "Enter") {
      // Enter picks the only (or first) option rather than submitting the whole form.
      event.preventDefault();
      var first = picker.querySelector("[data-pick]");
      if (first) pick(picker, first.dataset.pick, first.dataset.label);
    } else if (event.key === "Escape") {
      closeOptions(picker);
    } else if (event.key === "ArrowDown") {
      var option = picker.querySelector("[data-pick]");
      if (option) {
        event.preventDefault();
        option.focus();
      }
    }
  });
})();
