// An instance's diagram on its page: bpmn-js's viewer, steps done, in progress and overdue
// marked. The step states come with the page; the diagram from /processes/{id}/diagram.
(function () {
  "use strict";
  async function start() {
    const holder = document.querySelector("[data-process-diagram]");
    if (!holder || !window.BpmnJS) return;
    const answer = await fetch(holder.dataset.xmlUrl, { credentials: "same-origin" });
    if (!answer.ok) return;
    const viewer = new window.BpmnJS({ container: holder });
    await viewer.importXML(await answer.text());
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport");
    const steps = JSON.parse(holder.dataset.steps || "{}");
    Object.entries(steps).forEach(([node, state]) => {
      if (registry.get(node)) canvas.addMarker(node, "step-" + state);
    });
    holder.dataset.ready = "true";
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
