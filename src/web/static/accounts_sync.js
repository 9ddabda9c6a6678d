// Accounts Sync console: the confirmation dialog and live progress. Everything else works
// without JavaScript (the Sync forms post normally and the run page refreshes itself).
(function () {
  "use strict";
  var root = document.querySelector(".as");
  if (!root) { return; }
  var dialog = document.getElementById("as-confirm");

  function confirmSync(onOk) {
    if (!dialog || typeof dialog.showModal !== "function") { onOk(); return; }
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", function handler() {
      dialog.removeEventListener("close", handler);
      if (dialog.returnValue === "ok") { onOk(); }
    });
  }

  function showProgress(form, run) {
    var box = form.querySelector(".as-progress");
    var bar = box.querySelector("progress");
    var text = box.querySelector(".as-progress-text");
    var button = form.querySelector("button[type=submit]");
    box.hidden = false;
    if (button) { button.disabled = true; }
    bar.max = Math.max(run.total, 1);
    bar.value = run.done;
    if (run.active) {
      text.textContent = run.state === "queued" ? "Starting…" :
        run.done + " of " + run.total + " done" +
        (run.failed ? ", " + run.failed + " failed so far" : "") + ".";
    } else {
      text.textContent = run.message || ("Finished: " + run.state + ".");
    }
  }

  function poll(form, runId) {
    fetch(root.dataset.apiRuns + "/" + runId, {headers: {"Accept": "application/json"},
                                               credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (run) {
        showProgress(form, run);
        if (run.active) { setTimeout(function () { poll(form, runId); }, 1000); }
        else { setTimeout(function () { window.location.reload(); }, 1200); }
      })
      .catch(function () { setTimeout(function () { poll(form, runId); }, 3000); });
  }

  function start(form) {
    fetch(root.dataset.apiSync, {
      method: "POST",
      headers: {"Accept": "application/json", "X-CSRFToken": root.dataset.csrf},
      credentials: "same-origin",
      body: new FormData(form)
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (answer) {
      if (!answer.ok) {
        var box = form.querySelector(".as-progress");
        box.hidden = false;
        box.querySelector(".as-progress-text").textContent = answer.body.error.message;
        return;
      }
      showProgress(form, answer.body.run);
      poll(form, answer.body.run.id);
    });
  }

  document.querySelectorAll("form[data-sync-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      confirmSync(function () { start(form); });
    });
    if (form.dataset.activeRun) { poll(form, form.dataset.activeRun); }
  });
}());
