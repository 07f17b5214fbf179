// Rich text fields: an editor with a small toolbar over the textarea that is actually posted.
// Without JavaScript the textarea is used as it is; either way the server sanitises what it
// stores, so the cleaning here only keeps pasted markup tidy. Pasted or dropped images are
// uploaded as the viewer's pending attachments (POST /attachments) and shown from their
// download address. No inline script or style anywhere (CSP).
(function () {
  "use strict";

  var TAGS = {
    P: 1, BR: 1, B: 1, STRONG: 1, I: 1, EM: 1, U: 1, S: 1, UL: 1, OL: 1, LI: 1, BLOCKQUOTE: 1,
    CODE: 1, PRE: 1, H2: 1, H3: 1, H4: 1, A: 1, IMG: 1, TABLE: 1, THEAD: 1, TBODY: 1, TR: 1,
    TH: 1, TD: 1, HR: 1, DIV: 1,
  };
  var DROP_WITH_CONTENT = { SCRIPT: 1, STYLE: 1, IFRAME: 1, OBJECT: 1, EMBED: 1, TEMPLATE: 1, HEAD: 1, TITLE: 1, META: 1, LINK: 1 };
  var ATTRIBUTES = { A: ["href", "title"], IMG: ["src", "alt", "title"] };
  var IMAGE_SOURCE = /^\/attachments\/[0-9]+$/;
  var SAFE_LINK = /^(https?:|mailto:|\/(?!\/)|#)/i;

  function csrfToken(element) {
    var form = element.closest("form");
    var field = form && form.querySelector('input[name="csrf"]');
    if (field && field.value) return field.value;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function megabytes(bytes) {
    return bytes >= 1048576 ? Math.round((bytes / 1048576) * 10) / 10 + " MB" : bytes + " bytes";
  }

  function fill(template, name, limit) {
    return (template || "").split("{name}").join(name).split("{limit}").join(limit || "");
  }

  // One upload, shared with attachments.js through window.OpenITSMUpload.
  function upload(host, file, onProgress) {
    return new Promise(function (resolve, reject) {
      var limit = Number(host.dataset.maxBytes || 0);
      if (limit && file.size > limit) {
        reject(fill(host.dataset.msgTooLarge, file.name, megabytes(limit)));
        return;
      }
      var body = new FormData();
      body.append("kind", "pending");
      body.append("file", file, file.name || "image.png");
      var request = new XMLHttpRequest();
      request.open("POST", "/attachments");
      request.setRequestHeader("X-CSRF-Token", csrfToken(host));
      request.responseType = "json";
      if (onProgress) {
        request.upload.addEventListener("progress", function (event) {
          if (event.lengthComputable) onProgress(event.loaded / event.total);
        });
      }
      request.addEventListener("load", function () {
        var answer = request.response || {};
        if (request.status === 201 && answer.downloadUrl) {
          var match = /\/attachments\/([0-9]+)$/.exec(answer.downloadUrl);
          resolve({ id: match ? match[1] : "", url: answer.downloadUrl, filename: answer.filename, size: answer.size, contentType: answer.contentType });
          return;
        }
        var error = (answer.errors && answer.errors[0]) || {};
        var extensions = error.extensions || {};
        if (request.status === 413) {
          reject(fill(host.dataset.msgTooLarge, file.name, extensions.maxBytes ? megabytes(extensions.maxBytes) : ""));
        } else if (request.status === 415) {
          reject(fill(host.dataset.msgBlocked, file.name));
        } else {
          reject(error.message || fill(host.dataset.msgFailed, file.name));
        }
      });
      request.addEventListener("error", function () {
        reject(fill(host.dataset.msgFailed, file.name));
      });
      request.send(body);
    });
  }
  window.OpenITSMUpload = { upload: upload, fill: fill, megabytes: megabytes };

  // --- cleaning pasted markup ---------------------------------------------------------

  function cleanNode(node, into) {
    node.childNodes.forEach(function (child) {
      if (child.nodeType === Node.TEXT_NODE) {
        into.appendChild(document.createTextNode(child.nodeValue));
        return;
      }
      if (child.nodeType !== Node.ELEMENT_NODE || DROP_WITH_CONTENT[child.tagName]) return;
      if (!TAGS[child.tagName]) {
        cleanNode(child, into); // keep the text of unknown wrappers (span, font, o:p…)
        return;
      }
      var copy = document.createElement(child.tagName.toLowerCase());
      (ATTRIBUTES[child.tagName] || []).forEach(function (name) {
        var value = child.getAttribute(name);
        if (value === null) return;
        if (name === "src" && !IMAGE_SOURCE.test(value.trim())) return;
        if (name === "href" && !SAFE_LINK.test(value.trim())) return;
        copy.setAttribute(name, value);
      });
      if (child.tagName === "IMG" && !copy.getAttribute("src")) return;
      cleanNode(child, copy);
      into.appendChild(copy);
    });
    return into;
  }

  function clean(html) {
    // DOMParser documents run no script and load no image.
    var parsed = new DOMParser().parseFromString(html || "", "text/html");
    var holder = document.createElement("div");
    cleanNode(parsed.body, holder);
    return holder.innerHTML;
  }

  // --- the editor ---------------------------------------------------------------------

  function setUp(field) {
    if (field.dataset.ready) return;
    var source = field.querySelector("[data-richtext-source]");
    var toolbarTemplate = field.querySelector("template[data-richtext-toolbar]");
    if (!source || !toolbarTemplate) return;
    field.dataset.ready = "1";

    var toolbar = toolbarTemplate.content.firstElementChild.cloneNode(true);
    var editor = document.createElement("div");
    editor.className = "richtext-editor";
    editor.contentEditable = "true";
    editor.setAttribute("role", "textbox");
    editor.setAttribute("aria-multiline", "true");
    editor.dataset.richtextEditor = "";
    var label = document.querySelector('label[for="' + source.id + '"]');
    if (label) {
      editor.setAttribute("aria-label", label.textContent.replace("*", "").trim());
      label.addEventListener("click", function () { editor.focus(); });
    }
    editor.innerHTML = clean(source.value);
    source.parentNode.insertBefore(toolbar, source);
    source.parentNode.insertBefore(editor, source);
    source.required = false; // the editor's content is checked by the server instead
    field.classList.add("richtext-ready");
    var hint = field.querySelector("[data-richtext-hint]");
    if (hint) hint.hidden = false;
    var status = field.querySelector("[data-upload-status]");
    var problem = field.querySelector("[data-upload-error]");
    var uploading = 0;
    var savedRange = null;

    function sync() {
      var html = editor.innerHTML;
      source.value = (editor.textContent.trim() || editor.querySelector("img")) ? html : "";
    }

    function rememberSelection() {
      var selection = window.getSelection();
      if (selection.rangeCount && editor.contains(selection.anchorNode)) {
        savedRange = selection.getRangeAt(0).cloneRange();
      }
    }

    function restoreSelection(range) {
      editor.focus();
      var selection = window.getSelection();
      selection.removeAllRanges();
      if (range && editor.contains(range.startContainer)) {
        selection.addRange(range);
      } else {
        var end = document.createRange();
        end.selectNodeContents(editor);
        end.collapse(false);
        selection.addRange(end);
      }
    }

    function say(element, text) {
      element.textContent = text || "";
      element.hidden = !text;
    }

    function insertHtml(html, range) {
      restoreSelection(range);
      document.execCommand("insertHTML", false, html);
      rememberSelection();
      sync();
    }

    function escapeAttribute(text) {
      return String(text).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
    }

    function uploadFiles(files, range) {
      say(problem, "");
      Array.prototype.forEach.call(files, function (file) {
        uploading += 1;
        say(status, fill(field.dataset.msgUploading, file.name));
        upload(field, file)
          .then(function (done) {
            var name = escapeAttribute(done.filename || file.name);
            var html = /^image\//.test(done.contentType || "")
              ? '<img src="' + done.url + '" alt="' + name + '">'
              : '<a href="' + done.url + '">' + name + "</a>";
            insertHtml(html, range);
          })
          .catch(function (message) {
            say(problem, String(message)); // nothing is inserted
          })
          .finally(function () {
            uploading -= 1;
            if (!uploading) say(status, "");
          });
      });
    }

    toolbar.addEventListener("mousedown", function (event) {
      if (event.target.closest("button")) event.preventDefault(); // keep the selection
    });
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-command]");
      if (!button) return;
      var command = button.dataset.command;
      restoreSelection(savedRange);
      document.execCommand("styleWithCSS", false, false);
      if (command === "blockquote") {
        var inQuote = window.getSelection().anchorNode;
        inQuote = inQuote && (inQuote.nodeType === 1 ? inQuote : inQuote.parentNode).closest("blockquote");
        document.execCommand("formatBlock", false, inQuote && editor.contains(inQuote) ? "p" : "blockquote");
      } else if (command === "createLink") {
        var address = window.prompt(field.dataset.promptLink || "URL", "https://");
        if (address && SAFE_LINK.test(address.trim()) && address.trim() !== "https://") {
          document.execCommand("createLink", false, address.trim());
        }
      } else if (command === "removeFormat") {
        document.execCommand("removeFormat", false, null);
        document.execCommand("unlink", false, null);
      } else {
        document.execCommand(command, false, null);
      }
      rememberSelection();
      sync();
    });

    editor.addEventListener("input", sync);
    editor.addEventListener("keyup", rememberSelection);
    editor.addEventListener("mouseup", rememberSelection);
    editor.addEventListener("blur", sync);

    editor.addEventListener("paste", function (event) {
      var data = event.clipboardData;
      if (!data) return;
      var files = Array.prototype.slice.call(data.files || []);
      if (files.length) {
        event.preventDefault();
        rememberSelection();
        uploadFiles(files, savedRange);
        return;
      }
      var html = data.getData("text/html");
      if (html) {
        event.preventDefault();
        rememberSelection();
        insertHtml(clean(html), savedRange);
      }
    });

    editor.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
        event.preventDefault();
        editor.classList.add("dragging");
      }
    });
    editor.addEventListener("dragleave", function () { editor.classList.remove("dragging"); });
    editor.addEventListener("drop", function (event) {
      editor.classList.remove("dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      event.preventDefault();
      var range = document.caretRangeFromPoint ? document.caretRangeFromPoint(event.clientX, event.clientY) : null;
      uploadFiles(files, range && editor.contains(range.startContainer) ? range : savedRange);
    });

    var form = field.closest("form");
    if (form) {
      form.addEventListener("submit", function (event) {
        if (uploading) {
          event.preventDefault();
          say(problem, field.dataset.msgWait);
          return;
        }
        sync();
      });
    }
  }

  function setUpAll(root) {
    if (root.matches && root.matches("[data-richtext]")) setUp(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-richtext]").forEach(setUp);
  }

  document.addEventListener("DOMContentLoaded", function () { setUpAll(document); });
  document.addEventListener("htmx:load", function (event) { setUpAll(event.target); });
})();
