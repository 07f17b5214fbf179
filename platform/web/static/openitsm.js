// OpenITSM pages: small behaviours htmx does not cover. No inline script anywhere (CSP).
(function () {
  "use strict";

  function dashboardLayout(dashboard) {
    return Array.from(dashboard.querySelectorAll("[data-widget]")).map(function (box) {
      return { widget: box.dataset.widget, width: Number(box.dataset.width) };
    });
  }

  function saveLayout(dashboard, layout) {
    var form = dashboard.querySelector("[data-layout-form]");
    form.querySelector("input[name=widgets]").value = JSON.stringify(layout);
    htmx.trigger(form, "submit");
  }

  function setUpDashboard(dashboard) {
    if (dashboard.dataset.ready) return;
    dashboard.dataset.ready = "1";
    var list = dashboard.querySelector("[data-sortable]");
    if (list && window.Sortable) {
      Sortable.create(list, {
        handle: ".handle",
        draggable: "[data-widget]",
        animation: 150,
        onEnd: function (event) {
          if (event.oldIndex !== event.newIndex) saveLayout(dashboard, dashboardLayout(dashboard));
        },
      });
    }
    dashboard.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) return;
      var box = button.closest("[data-widget]");
      if (button.hasAttribute("data-resize") && box) {
        box.dataset.width = button.dataset.resize;
        saveLayout(dashboard, dashboardLayout(dashboard));
      } else if (button.hasAttribute("data-remove") && box) {
        box.remove();
        saveLayout(dashboard, dashboardLayout(dashboard));
      } else if (button.hasAttribute("data-add")) {
        var choice = dashboard.querySelector("[data-add-choice]");
        var option = choice.options[choice.selectedIndex];
        var layout = dashboardLayout(dashboard);
        layout.push({ widget: option.value, width: Number(option.dataset.width) });
        saveLayout(dashboard, layout);
      }
    });
  }

  function setUp(root) {
    root.querySelectorAll(".dashboard").forEach(setUpDashboard);
    if (root.matches && root.matches(".dashboard")) setUpDashboard(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
    var toggle = document.querySelector("[data-nav-toggle]");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var nav = document.getElementById("nav");
        var open = nav.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  });
  document.addEventListener("click", function (event) {
    var back = event.target.closest("[data-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
  document.addEventListener("htmx:load", function (event) { setUp(event.detail.elt); });
})();
