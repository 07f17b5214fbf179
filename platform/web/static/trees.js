// Trees rearranged by dragging (departments, dictionary items): drag an entry by its handle
// to reorder it or move it under another one. A drop posts the new parent, the place among
// the new siblings and the version the page showed to `<data-move-url><id>/move`; the answer
// is the tree as stored, swapped in place, also when the move is refused (it then says why).
//
// The tree's root carries `data-tree="<entry class>"` and, when the viewer may move entries,
// `data-movable` and `data-move-url`; its lists carry `data-parent` (empty at the top).
(function () {
  "use strict";

  function send(tree, event) {
    var item = event.item;
    htmx.ajax("POST", tree.dataset.moveUrl + item.dataset.id + "/move", {
      source: tree,
      target: "#" + tree.id,
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
    var entry = "." + tree.dataset.tree;
    tree.querySelectorAll("[data-parent]").forEach(function (list) {
      Sortable.create(list, {
        group: tree.id,
        handle: ".handle",
        draggable: entry,
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
    var target = detail.target;
    if (target && target.hasAttribute("data-tree") && status >= 400 && status < 500 &&
        detail.xhr.responseText.indexOf('id="' + target.id + '"') >= 0) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tree]").forEach(setUp);
  });
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    if (element && element.hasAttribute && element.hasAttribute("data-tree")) setUp(element);
  });
})();
