// Custom fields administration. The list: drag a row by its handle to reorder the fields;
// a drop posts the new order (each field with the version the page showed) through the
// list's own form, and the answer is the list as stored, swapped in place, also when the
// order is refused (it then says why). The form: the settings that do not apply to the
// chosen type are hidden (without this script they are all shown, each saying where it applies).
(function () {
  "use strict";

  function setUpList(list) {
    if (!list || list.dataset.ready || !window.Sortable) return;
    var form = list.querySelector("form");
    var body = list.querySelector("tbody");
    if (!form || !body) return;
    list.dataset.ready = "1";
    Sortable.create(body, {
      handle: ".handle",
      draggable: "tr[data-id]",
      animation: 150,
      onEnd: function (event) {
        if (event.oldIndex === event.newIndex) return;
        var order = Array.prototype.map.call(body.querySelectorAll("tr[data-id]"), function (row) {
          return row.dataset.id + ":" + row.dataset.version;
        });
        form.querySelector("input[name=order]").value = order.join(",");
        // A focused arrow button would be sent along as if pressed: let it go first.
        if (document.activeElement && form.contains(document.activeElement)) document.activeElement.blur();
        htmx.ajax("POST", form.getAttribute("action"), {
          source: form,
          target: "#" + list.id,
          swap: "outerHTML",
          values: { order: order.join(","), resource: form.querySelector("input[name=resource]").value },
        });
      },
    });
  }

  function showSettingsFor(select) {
    document.querySelectorAll("[data-for-types]").forEach(function (part) {
      part.hidden = part.dataset.forTypes.split(" ").indexOf(select.value) < 0;
    });
  }

  function setUpForm() {
    var select = document.querySelector("select[data-field-type]");
    if (!select) return;
    showSettingsFor(select);
    select.addEventListener("change", function () { showSettingsFor(select); });
  }

  // A refused order answers 400/403/409 with the list as stored: show it all the same.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    var target = detail.target;
    if (target && target.hasAttribute("data-field-order") && status >= 400 && status < 500 &&
        detail.xhr.responseText.indexOf('id="' + target.id + '"') >= 0) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-field-order]").forEach(setUpList);
    setUpForm();
  });
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    if (element && element.hasAttribute && element.hasAttribute("data-field-order")) setUpList(element);
  });
})();
