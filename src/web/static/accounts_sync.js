// Accounts Sync console: the confirmation dialog and live progress. Everything else works
// without JavaScript (the Sync forms post normally and the run page refreshes itself).
(function () {
  "use strict";
  var root = document.querySelector(".as");
  if (!root) { return; }
  var dialog = document.getElementById("as-confirm");

  function plural(count, word) {
    return count === 1 ? word.replace(/s$/, "") : word;
  }

  // What the sync will do, in the dialog: how many, how much, and for journals Draft or Posted.
  function describe(form) {
    var data = form.dataset;
    var count = data.count !== undefined ? parseInt(data.count, 10) : null;
    var what = data.what || "documents";
    var xero = data.xeroWhat || "";
    var money = data.total ? " worth " + data.total + (data.currency ? " " + data.currency : "") : "";
    var checked = form.querySelector("input[name=mode]:checked");
    var mode = checked ? (checked.value === "posted" ? "Posted (already approved)" :
                                                        "Draft (an authorised Xero user approves them)") : "";
    var title, text;
    if (data.kind === "journals") {
      title = count !== null ? "Post " + count.toLocaleString() + " " + plural(count, "journals") + " to Xero?"
                             : "Post the journals to Xero?";
      text = (count !== null ? count.toLocaleString() + " " + plural(count, "manual journals") + money + " in debits"
                             : "Every journal not yet in Xero up to this closing date") +
             " will be sent as " + mode + ".";
    } else {
      title = count !== null ? "Send " + count.toLocaleString() + " " + plural(count, what) + " to Xero?"
                             : "Send the " + what + " to Xero?";
      text = (count !== null ? count.toLocaleString() + " " + plural(count, what) + money : "They") +
             " will be sent to Xero" + (xero ? " as " + plural(count || 2, xero) : "") +
             ". Documents that fail Accounts Sync's checks are not sent and are listed with why.";
    }
    return {title: title, text: text};
  }

  function confirmSync(form, onOk) {
    if (!dialog || typeof dialog.showModal !== "function") { onOk(); return; }
    var words = describe(form);
    document.getElementById("as-confirm-title").textContent = words.title;
    document.getElementById("as-confirm-what").textContent = words.text;
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
    // While running: counts and what it is waiting for; at the end the page reloads and shows
    // the outcome until it is dismissed.
    text.textContent = run.active ? run.progress : (run.headline + ": " + run.message);
  }

  function poll(form, runId) {
    fetch(root.dataset.apiRuns + "/" + runId, {headers: {"Accept": "application/json"},
                                               credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (run) {
        showProgress(form, run);
        if (run.active) { setTimeout(function () { poll(form, runId); }, 1000); }
        else { setTimeout(function () { window.location.reload(); }, 800); }
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
        box.classList.add("as-progress-refused");
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
      confirmSync(form, function () { start(form); });
    });
    if (form.dataset.activeRun) { poll(form, form.dataset.activeRun); }
  });
}());
