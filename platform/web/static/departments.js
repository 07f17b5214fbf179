// The department tree (/admin/departments): drag a department by its handle to move it.
// A drop posts the new parent, the place among the new siblings and the version the page
// showed; the answer is the tree as stored, swapped in place (also when the move is refused).
(function () {
  "use strict";

  var TREE = "department-tree";

  function send(tree, event) {
    var item = event.item;
    htmx.ajax("POST", "/admin/departments/" + item.dataset.id + "/move", {
      source: tree,
      target: "#" + TREE,
      swap: "outerHTML",
      values: {
        parent_id: event.to.dataset.parent || "",
        position: String(event.newIndex),
        version: item.dataset.version,
      },
    });
  }

  function setUp(tree) {
    if (!tree || tree.dataset.ready || !tree.hasAttribute("data-movable") || !window.Sortable) return;
    tree.dataset.ready = "1";
    tree.querySelectorAll(".department-list").forEach(function (list) {
      Sortable.create(list, {
        group: "departments",
        handle: ".handle",
        draggable: ".department",
        animation: 150,
        fallbackOnBody: true,
        swapThreshold: 0.65,
        onEnd: function (event) {
          if (event.from === event.to && event.oldIndex === event.newIndex) return;
          send(tree, event);
        },
      });
    });
  }

  // A refused move answers 400/403/404/409 with the tree as stored: show it all the same.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (detail.target && detail.target.id === TREE && status >= 400 && status < 500 &&
        detail.xhr.responseText.indexOf('id="' + TREE + '"') >= 0) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    setUp(document.getElementById(TREE));
  });
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    if (element && element.id === TREE) setUp(element);
  });
})();
