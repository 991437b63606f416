/**
 * The pages' only script, served as /ui/app.js (same origin, so the Content-Security-Policy can forbid
 * inline scripts). It polls the JSON endpoint named by <body data-poll> / data-jobs-poll and updates the
 * DOM in place with textContent and style widths only: it never parses markup, so nothing it receives
 * can become HTML. Plain ES2017, no build step.
 */
export const CLIENT_JS = String.raw`(function () {
  "use strict";
  var STATUSES = ["queued", "submitting", "submitted", "processing", "succeeded", "failed", "canceled"];
  var TERMINAL = ["succeeded", "failed", "canceled"];
  var INTERVAL_MS = 1500;
  var body = document.body;
  var base = body.getAttribute("data-base") || "/ui";
  var live = document.getElementById("live");

  function all(scope, selector) {
    return Array.prototype.slice.call(scope.querySelectorAll(selector));
  }
  function setLive(state, text) {
    if (!live) return;
    live.className = "live " + state;
    live.textContent = text;
  }
  function shortTime(iso) {
    return iso ? iso.slice(0, 19).replace("T", " ") : "\u2014";
  }
  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    });
  }

  /** Bar segments, legend, counts and state of one batch, inside scope. */
  function updateProgress(scope, batch) {
    var c = batch.counts;
    var finished = c.succeeded + c.failed + c.canceled;
    STATUSES.forEach(function (s) {
      var n = c[s] || 0;
      var width = batch.total > 0 ? ((n * 100) / batch.total).toFixed(3) + "%" : "0%";
      all(scope, '[data-seg="' + s + '"]').forEach(function (el) {
        el.style.width = width;
        el.title = s + " " + n;
      });
      all(scope, '[data-count="' + s + '"]').forEach(function (el) {
        el.textContent = String(n);
      });
      all(scope, '[data-legend="' + s + '"]').forEach(function (el) {
        el.classList.toggle("zero", n === 0);
      });
    });
    all(scope, "[data-finished]").forEach(function (el) { el.textContent = String(finished); });
    all(scope, "[data-total-text]").forEach(function (el) { el.textContent = String(batch.total); });
    all(scope, "[data-state]").forEach(function (el) {
      el.textContent = batch.done ? "done" : "running";
      el.className = "state " + (batch.done ? "done" : "running");
    });
    all(scope, "[data-progress]").forEach(function (el) { el.setAttribute("data-done", String(batch.done)); });
    all(scope, ".bar").forEach(function (el) { el.setAttribute("aria-valuenow", String(finished)); });
  }

  /** Status, attempts and finish time of the job rows shown; a notice when the page's set of jobs changed. */
  function updateJobRows(jobs) {
    var shown = all(document, "tr[data-job-id]").map(function (r) { return r.getAttribute("data-job-id"); });
    jobs.forEach(function (j) {
      var row = document.querySelector('tr[data-job-id="' + j.id + '"]');
      if (!row) return;
      var badge = row.querySelector('[data-field="status"] .badge');
      if (badge) {
        badge.className = "badge s-" + j.status;
        badge.textContent = j.status;
      }
      var attempts = row.querySelector('[data-field="attempts"]');
      if (attempts) attempts.textContent = String(j.attempts);
      var finished = row.querySelector('[data-field="finished_at"]');
      if (finished) finished.textContent = shortTime(j.finished_at);
    });
    var stale = document.getElementById("stale");
    if (stale) stale.hidden = shown.join(",") === jobs.map(function (j) { return j.id; }).join(",");
  }

  /** /ui: rows in the order of the answer, new batches from the template, vanished ones removed. */
  function pollBatches(url) {
    return getJson(url).then(function (res) {
      var tbody = document.getElementById("batch-rows");
      var template = document.getElementById("batch-row");
      if (!tbody || !template) return false;
      var keep = {};
      res.data.forEach(function (b) {
        keep[b.id] = true;
        var row = tbody.querySelector('tr[data-batch-id="' + b.id + '"]');
        if (!row) {
          row = template.content.firstElementChild.cloneNode(true);
          row.setAttribute("data-batch-id", b.id);
          var link = row.querySelector("[data-link]");
          link.setAttribute("href", base + "/batches/" + encodeURIComponent(b.id));
          link.textContent = b.id;
          row.querySelector("[data-created]").textContent = shortTime(b.created_at);
        }
        updateProgress(row, b);
        tbody.appendChild(row);
      });
      all(tbody, "tr[data-batch-id]").forEach(function (r) {
        if (!keep[r.getAttribute("data-batch-id")]) r.parentNode.removeChild(r);
      });
      var empty = document.getElementById("no-batches");
      if (empty) empty.hidden = res.data.length > 0;
      return true;
    });
  }

  /** /ui/batches/:id: counts first, then the rows (so rows are never older than the counts). */
  function pollBatch(url, jobsUrl) {
    return getJson(url).then(function (batch) {
      updateProgress(document.body, batch);
      var rows = jobsUrl ? getJson(jobsUrl).then(function (res) { updateJobRows(res.data); }) : Promise.resolve();
      return rows.then(function () { return !batch.done; });
    });
  }

  function pollJobs(jobsUrl) {
    return getJson(jobsUrl).then(function (res) {
      updateJobRows(res.data);
      return true;
    });
  }

  /** /ui/jobs/:id: reload when the status changes (the page then shows the new events, result or error). */
  function pollJob(url) {
    var shown = body.getAttribute("data-status");
    return getJson(url).then(function (job) {
      if (job.status !== shown) {
        location.reload();
        return false;
      }
      return TERMINAL.indexOf(job.status) === -1;
    });
  }

  var page = body.getAttribute("data-page");
  var poll = body.getAttribute("data-poll");
  var jobsPoll = body.getAttribute("data-jobs-poll");
  var work = null;
  if (page === "batches" && poll) work = function () { return pollBatches(poll); };
  else if (page === "batch" && poll) work = function () { return pollBatch(poll, jobsPoll); };
  else if (page === "extensions" && jobsPoll) work = function () { return pollJobs(jobsPoll); };
  else if (page === "job" && poll) work = function () { return pollJob(poll); };
  if (!work) {
    setLive("off", page === "batch" || page === "job" ? "finished" : "static");
    return;
  }

  // One request at a time, the next one INTERVAL_MS after the previous answer; nothing while the tab is hidden.
  function tick() {
    if (document.hidden) return schedule();
    work().then(
      function (more) {
        setLive(more ? "on" : "off", more ? "live" : "finished");
        if (more) schedule();
      },
      function () {
        setLive("err", "offline, retrying");
        schedule();
      }
    );
  }
  function schedule() {
    setTimeout(tick, INTERVAL_MS);
  }
  setLive("on", "live");
  schedule();
})();
`;
