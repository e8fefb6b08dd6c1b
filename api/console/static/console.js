// The console's buttons: POST with the session's CSRF token, show the answer, update the row.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function flash(text, ok) {
    var box = document.getElementById("flash");
    box.textContent = text;
    box.className = ok ? "message ok" : "message error";
    box.hidden = false;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams(body || {}).toString()
    }).then(function (response) {
      return response.json().catch(function () {
        return {ok: false, message: "the server answered " + response.status};
      }).then(function (data) { data.status = response.status; return data; });
    }, function () { return {ok: false, message: "the console could not reach the server"}; });
  }

  function setText(row, selector, text) {
    var cell = row.querySelector(selector);
    if (cell) { cell.textContent = text; }
  }

  function showOperation(op) {
    document.querySelectorAll('tr[data-op="' + op.id + '"]').forEach(function (row) {
      var cell = row.querySelector(".status");
      cell.textContent = op.status;
      cell.className = "status status-" + op.status.toLowerCase();
      setText(row, ".step", op.step);
      setText(row, ".attempts", String(op.attempts));
      setText(row, ".error", op.error);
      setText(row, ".job", (op.job_id || "") + " " + op.job_status);
    });
  }

  // An operation in flight is followed until it ends, so the operator sees the outcome.
  function follow(opId) {
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      fetch("/console/operations/" + opId, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (!data.ok) { clearInterval(timer); return; }
          showOperation(data.operation);
          if (data.operation.status === "SUCCEEDED" || data.operation.status === "FAILED" || tries > 600) {
            clearInterval(timer);
          }
        }, function () { if (tries > 600) { clearInterval(timer); } });
    }, 1000);
  }

  function showBackend(b) {
    var row = document.getElementById("backend-" + b.id);
    if (!row) { return; }
    row.querySelector(".flag.drained").hidden = !b.drained;
    row.querySelector(".flag.online").hidden = b.drained || b.offline;
    row.querySelector("button.drain").hidden = b.drained;
    row.querySelector("button.undrain").hidden = !b.drained;
    row.querySelector(".drain-form").hidden = b.drained;
    setText(row, ".drained-reason", b.drained ? b.drained_reason : "");
    setText(row, ".refreshed", b.stats_updated_at || "never");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-post]");
    if (!button) { return; }
    event.preventDefault();
    var body = {};
    if (button.dataset.form) {
      new FormData(document.getElementById(button.dataset.form)).forEach(function (v, k) { body[k] = v; });
    }
    if (button.dataset.kind) { body.kind = button.dataset.kind; }
    if (button.dataset.backend) { body.backend_id = button.dataset.backend; }
    if (button.dataset.action) { body.action = button.dataset.action; }
    var box = document.getElementById("flash");
    box.hidden = true;
    box.textContent = "";
    button.classList.add("busy");
    post(button.dataset.post, body).then(function (data) {
      button.classList.remove("busy");
      flash(data.message || (data.ok ? "done" : "refused"), data.ok);
      if (!data.ok) { return; }
      if (data.operation) { showOperation(data.operation); follow(data.operation.id); }
      if (data.backend) { showBackend(data.backend); }
      if (data.retried) { data.retried.forEach(follow); }
      if (data.run_id !== undefined) {
        var row = button.closest("tr");
        if (row && row.querySelector(".fixed") && data.fixed) {
          setText(row, ".fixed", "fixed in run " + data.run_id);
          if (data.finding !== undefined) {
            row.querySelectorAll("button.fix, button.fix-backend").forEach(function (b) { b.hidden = true; });
          }
        }
      }
    });
  });

  // A server's page: its live state. With a streams process, its event stream (EventSource,
  // opened with a one-minute ticket the console issues, since EventSource sends no header);
  // without one, or when the stream cannot be opened, the state re-read every 1.5 s.
  var state = document.getElementById("server-state");
  if (state) {
    var showState = function (s) {
      document.getElementById("live-status").textContent = s.status;
      document.getElementById("live-build").textContent = s.build_percentage + " %";
      document.getElementById("live-job").textContent = (s.backend_job_status || "") + " " + (s.backend_opcode || "");
    };
    var reread = function () {
      document.getElementById("live-via").textContent = "re-read every 1.5 s";
      var poll = setInterval(function () {
        fetch(state.dataset.state, {credentials: "same-origin", headers: {"Accept": "application/json"}})
          .then(function (r) { return r.json(); })
          .then(function (data) {
            if (!data.ok) { clearInterval(poll); return; }
            showState(data.state);
          });
      }, 1500);
    };
    var failures = 0;
    var stream = function () {
      post(state.dataset.ticket).then(function (data) {
        if (!data.ok || !data.url) { reread(); return; }
        var source = new EventSource(data.url);
        var last = null;
        source.addEventListener("open", function () {
          failures = 0;
          document.getElementById("live-via").textContent = "stream";
        });
        source.addEventListener("state", function (event) {
          last = JSON.parse(event.data);
          showState(last);
        });
        source.addEventListener("end", function () {
          source.close();
          if (!last || last.status !== "DELETED") { stream(); }  // its time ran out: a new ticket
        });
        source.addEventListener("error", function () {
          // EventSource would reconnect with the same (soon expired) ticket: take a new one.
          source.close();
          failures += 1;
          if (failures >= 3) { reread(); } else { setTimeout(stream, 1000 * failures); }
        });
      });
    };
    if (state.dataset.ticket && window.EventSource) { stream(); } else { reread(); }
  }
}());
