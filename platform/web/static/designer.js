// The process designer: bpmn-js's modeler, a form for our itsm: attributes of the selected
// step (or of the process when nothing is selected), and saving / publishing drafts. The
// server checks every diagram; its problems are listed and their elements marked.
(function () {
  "use strict";
  const ITSM = "https://openitsm.org/schema/bpmn";
  const ATTRIBUTES = [
    "assignee", "candidateDepartments", "candidateRoles", "candidateDuty", "countersign", "veto",
    "deadline", "deadlineFallback",
    "escalation", "fallbackGroup", "returnTargets", "jump", "chooseNext", "form", "action",
    "owner", "next", "businessTime", "calendar",
  ];
  const NAMES = ["name-zh-CN", "name-en"];
  // Our attributes as a moddle extension, so edits go through the modeler's undo stack.
  const extension = {
    name: "OpenITSM", uri: ITSM, prefix: "itsm", xml: { tagAlias: "lowerCase" },
    types: [{
      name: "Attributes",
      extends: ["bpmn:UserTask", "bpmn:ServiceTask", "bpmn:SubProcess", "bpmn:CallActivity",
        "bpmn:Process", "bpmn:BoundaryEvent"],
      properties: ATTRIBUTES.map((name) => ({ name, isAttr: true, type: "String" })),
    }, {
      // Names in the product's languages beside bpmn:name, on every element.
      name: "Names",
      extends: ["bpmn:FlowElement", "bpmn:Process"],
      properties: NAMES.map((name) => ({ name, isAttr: true, type: "String" })),
    }],
  };

  function kindOf(element) {
    const type = (element.businessObject && element.businessObject.$type) || "";
    const name = type.replace(/^bpmn:/, "");
    return name.charAt(0).toLowerCase() + name.slice(1);
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  }

  function start() {
    const root = document.querySelector("[data-designer]");
    if (!root || !window.BpmnJS) return;
    const editable = root.dataset.editable === "true";
    const xml = JSON.parse(document.querySelector("[data-diagram]").textContent);
    const modeler = new window.BpmnJS({
      container: root.querySelector("[data-canvas]"),
      moddleExtensions: { itsm: extension },
    });
    const form = root.querySelector("[data-property-form]");
    const nothing = root.querySelector("[data-nothing-selected]");
    const status = document.querySelector("[data-status]");
    const problems = document.querySelector("[data-problems]");
    const publishButton = document.querySelector("[data-publish]");
    let current = null;
    let marked = [];

    function show(element) {
      current = element || modeler.get("canvas").getRootElement();
      if (!current || !current.businessObject) {  // the canvas before a diagram is drawn
        current = null;
        form.hidden = true;
        nothing.hidden = false;
        return;
      }
      const kind = current.type === "bpmn:Process" ? "process" : kindOf(current);
      const fields = form.querySelectorAll("[data-attribute]");
      let any = false;
      fields.forEach((field) => {
        const applies = field.dataset.kinds.split(" ").includes(kind);
        field.hidden = !applies;
        any = any || applies;
        if (applies) {
          field.querySelector("input").value = current.businessObject.get("itsm:" + field.dataset.attribute) || "";
        }
      });
      form.hidden = !any;
      nothing.hidden = any;
      form.querySelector("[data-element-label]").textContent = current.businessObject.name || "";
      form.querySelector("[data-element-id]").textContent = current.businessObject.id || "";
    }

    form.addEventListener("change", (event) => {
      if (!editable || !current || !event.target.name) return;
      const value = event.target.value.trim();
      modeler.get("modeling").updateProperties(current, { ["itsm:" + event.target.name]: value || undefined });
    });
    form.addEventListener("submit", (event) => event.preventDefault());
    modeler.on("selection.changed", (event) => show(event.newSelection[0]));

    function mark(list) {
      const canvas = modeler.get("canvas");
      const registry = modeler.get("elementRegistry");
      marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, "has-problem"));
      marked = [];
      problems.textContent = "";
      list.forEach((problem) => {
        const item = document.createElement("li");
        item.textContent = problem.element + ": " + problem.reason;
        item.dataset.element = problem.element;
        problems.appendChild(item);
        if (registry.get(problem.element)) {
          canvas.addMarker(problem.element, "has-problem");
          marked.push(problem.element);
        }
      });
    }

    async function post(url, body) {
      status.textContent = root.dataset.msgChecking;
      try {
        const answer = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
          body: JSON.stringify(body),
        });
        return await answer.json();
      } catch (error) {
        return { ok: false, message: root.dataset.msgFailed, problems: [] };
      }
    }

    const saveButton = document.querySelector("[data-save]");
    if (saveButton) {
      saveButton.addEventListener("click", async () => {
        const { xml: drawn } = await modeler.saveXML({ format: true });
        const version = root.dataset.draftVersion ? Number(root.dataset.draftVersion) : null;
        const result = await post("/admin/processes/draft", { xml: drawn, draftVersion: version });
        mark(result.problems || []);
        if (!result.ok) {
          status.textContent = result.message || "";
          return;
        }
        root.dataset.key = result.key;
        root.dataset.draftNumber = String(result.number);
        root.dataset.draftVersion = String(result.version);
        status.textContent = format(root.dataset.msgSaved, { number: result.number });
        if (publishButton) publishButton.disabled = false;
      });
    }
    if (publishButton) {
      publishButton.addEventListener("click", async () => {
        const key = root.dataset.key;
        const result = await post("/admin/processes/" + encodeURIComponent(key) + "/publish", {
          number: Number(root.dataset.draftNumber),
          version: Number(root.dataset.draftVersion),
        });
        if (!result.ok) {
          mark(result.problems || []);
          status.textContent = result.message || "";
          return;
        }
        root.dataset.draftNumber = "";
        root.dataset.draftVersion = "";
        publishButton.disabled = true;
        status.textContent = format(root.dataset.msgPublished, { number: result.number });
      });
    }

    modeler.importXML(xml).then(() => {
      modeler.get("canvas").zoom("fit-viewport");
      show(null);
    }).catch((error) => {
      status.textContent = String(error && error.message ? error.message : error);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
