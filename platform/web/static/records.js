// Record pages: the SLA clock in the header counts down every 30 seconds from what the
// server computed at render. The clock's messages come from its data attributes, so the
// text is in the viewer's language; a paused clock stays as drawn.
(function () {
  "use strict";
  var STEP = 30000;
  var loaded = Date.now();

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  function duration(clock, seconds) {
    var minutes = Math.floor(seconds / 60);
    var d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    var parts = [];
    if (d) parts.push(fill(clock.dataset.unitD, { n: d }));
    if (d || h) parts.push(fill(clock.dataset.unitH, { n: h }));
    parts.push(fill(clock.dataset.unitM, { n: m }));
    return parts.join(" ");
  }

  function tick(clock) {
    if (clock.hasAttribute("data-paused")) return;
    var state = clock.dataset.state;
    // Seconds left as the server saw them, less the time this page has been open: the
    // browser's own clock may be wrong, its stopwatch is not.
    var left = Number(clock.dataset.left) - Math.round((Date.now() - loaded) / 1000);
    if (state !== "breached") {
      state = left <= 0 ? "breached" : left <= Number(clock.dataset.warningSeconds) ? "warning" : "ok";
    }
    clock.dataset.state = state;
    clock.className = clock.className.replace(/\bsla-(ok|warning|breached|paused)\b/, "sla-" + state);
    var label = clock.querySelector("[data-sla-state]");
    if (label) label.textContent = clock.dataset["msg" + state.charAt(0).toUpperCase() + state.slice(1)];
    var text = clock.querySelector("[data-sla-left]");
    if (text) {
      text.textContent = left < 0
        ? fill(clock.dataset.msgOverdue, { time: duration(clock, -left) })
        : fill(clock.dataset.msgLeft, { time: duration(clock, left) });
    }
  }

  function tickAll() {
    document.querySelectorAll("[data-sla-clock]").forEach(tick);
  }

  document.addEventListener("DOMContentLoaded", function () { window.setInterval(tickAll, STEP); });
})();
