// Attachments fields: files dropped on the zone or chosen with the file input are uploaded one
// by one (with progress) as the viewer's pending attachments; the hidden input keeps the ids,
// comma separated, and the page attaches them to the record when the form is saved. A refused
// file (too large, a forbidden type) says why on its own line and adds nothing.
// Uses window.OpenITSMUpload from richtext.js (both come with the `form_assets` macro).
(function () {
  "use strict";

  function ids(field) {
    var value = field.querySelector("[data-attachments-value]").value;
    return value.split(/[\s,]+/).filter(Boolean);
  }

  function setIds(field, list) {
    field.querySelector("[data-attachments-value]").value = list.join(",");
  }

  function removeButton(field) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.dataset.remove = "";
    button.textContent = field.dataset.labelRemove || "×";
    return button;
  }

  function sizeText(bytes) {
    if (bytes >= 1048576) return Math.round((bytes / 1048576) * 10) / 10 + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " kB";
    return bytes + " B";
  }

  function addFile(field, file) {
    var upload = window.OpenITSMUpload;
    var list = field.querySelector("[data-attachments-list]");
    var item = document.createElement("li");
    item.className = "uploading";
    var name = document.createElement("span");
    name.className = "attachment-name";
    name.textContent = file.name;
    var progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    var message = document.createElement("span");
    message.className = "field-error";
    message.setAttribute("role", "alert");
    item.append(name, " ", progress, " ", message, " ", removeButton(field));
    list.appendChild(item);
    field.dataset.uploading = String(Number(field.dataset.uploading || 0) + 1);
    upload
      .upload(field, file, function (share) { progress.value = share; })
      .then(function (done) {
        var link = document.createElement("a");
        link.href = done.url;
        link.textContent = done.filename || file.name;
        var size = document.createElement("span");
        size.className = "muted";
        size.textContent = sizeText(done.size || file.size);
        name.replaceWith(link);
        progress.replaceWith(size);
        item.className = "uploaded";
        item.dataset.attachmentId = done.id;
        setIds(field, ids(field).concat([done.id]));
      })
      .catch(function (text) {
        progress.remove();
        item.className = "failed";
        message.textContent = String(text);
      })
      .finally(function () {
        field.dataset.uploading = String(Number(field.dataset.uploading) - 1);
      });
  }

  function addFiles(field, files) {
    Array.prototype.forEach.call(files || [], function (file) { addFile(field, file); });
  }

  function setUp(field) {
    if (field.dataset.ready || !window.OpenITSMUpload) return;
    field.dataset.ready = "1";
    var zone = field.querySelector("[data-drop-zone]");
    var input = field.querySelector("[data-attachments-input]");

    input.addEventListener("change", function () {
      addFiles(field, input.files);
      input.value = ""; // choosing the same file again uploads it again
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      addFiles(field, event.dataTransfer && event.dataTransfer.files);
    });
    field.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-remove]");
      if (!button) return;
      var item = button.closest("li");
      var removed = item.dataset.attachmentId;
      if (removed) setIds(field, ids(field).filter(function (id) { return id !== removed; }));
      item.remove();
    });
    var form = field.closest("form");
    if (form) {
      form.addEventListener("submit", function (event) {
        if (Number(field.dataset.uploading || 0) > 0) {
          event.preventDefault();
          var note = field.querySelector("[data-attachments-wait]");
          if (!note) {
            note = document.createElement("p");
            note.className = "field-error";
            note.setAttribute("role", "alert");
            note.dataset.attachmentsWait = "";
            field.appendChild(note);
          }
          note.textContent = field.dataset.msgWait;
        }
      });
    }
  }

  function setUpAll(root) {
    if (root.matches && root.matches("[data-attachments]")) setUp(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-attachments]").forEach(setUp);
  }

  document.addEventListener("DOMContentLoaded", function () { setUpAll(document); });
  document.addEventListener("htmx:load", function (event) { setUpAll(event.target); });
})();
