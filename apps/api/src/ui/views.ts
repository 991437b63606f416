import { JOB_STATUSES, type BatchResource, type JobEventResource, type JobResource, type JobStatus, type StatusCounts } from "@kex/contract";
import { isTerminal } from "@kex/core";
import { CSS } from "./styles";
import { html, httpUrl, raw, type Html } from "./html";

/**
 * Server-rendered pages of the status UI. Every value goes through `html` (escaped by default); the
 * `data-*` attributes on <body> tell app.js what to poll. Times are shown in UTC.
 */

export type NavItem = "batches" | "extensions";

export interface PageArgs {
  /** Where the UI is mounted ("/ui"): every link starts with it. */
  base: string;
  title: string;
  nav?: NavItem;
  body: Html;
  /** `data-*` attributes of <body> (keys are constants of this file; values are escaped). */
  data?: Record<string, string | undefined>;
}

export function layout(args: PageArgs): string {
  const data = Object.entries({ base: args.base, ...args.data })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => html` data-${raw(k)}="${v}"`);
  const navLink = (item: NavItem, href: string, label: string) =>
    html`<a href="${href}" ${args.nav === item ? raw('aria-current="page"') : ""}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${args.title} · kex</title>
<link rel="icon" href="data:,">
<style>${raw(CSS)}</style>
<script src="${args.base}/app.js" defer></script>
</head>
<body${data}>
<header>
<a class="brand" href="${args.base}">kex</a>
${navLink("batches", args.base, "Batches")}
${navLink("extensions", `${args.base}/extensions`, "Extensions")}
<span id="live" class="live">static</span>
</header>
<main>
${args.body}
</main>
</body>
</html>
`.value;
}

/** "2025-01-31 12:34:56" (UTC) or a dash. */
export const shortTime = (iso: string | null): string => (iso ? iso.slice(0, 19).replace("T", " ") : "—");

const finishedCount = (c: StatusCounts) => c.succeeded + c.failed + c.canceled;

function percent(n: number, total: number): string {
  return total > 0 ? ((n * 100) / total).toFixed(3) : "0";
}

/** Stacked bar by status, with legend and counts. app.js updates it through the data-* hooks. */
export function progress(batch: Pick<BatchResource, "total" | "counts" | "done">, opts: { big?: boolean } = {}): Html {
  const { total, counts, done } = batch;
  const finished = finishedCount(counts);
  return html`<div class="progress${opts.big ? " big" : ""}" data-progress data-done="${String(done)}">
    <div class="summary">
      <span><b data-finished>${finished}</b> of <span data-total-text>${total}</span> finished</span
      ><span data-state class="state ${done ? "done" : "running"}">${done ? "done" : "running"}</span>
    </div>
    <div class="bar" role="progressbar" aria-label="jobs finished" aria-valuemin="0" aria-valuemax="${total}" aria-valuenow="${finished}">
      ${JOB_STATUSES.map(
        (s) => html`<span class="seg s-${s}" data-seg="${s}" style="width:${percent(counts[s], total)}%" title="${s} ${counts[s]}"></span>`,
      )}
    </div>
    <ul class="legend">
      ${JOB_STATUSES.map(
        (s) =>
          html`<li data-legend="${s}" ${counts[s] === 0 ? raw('class="zero"') : ""}>
            <span class="sw s-${s}"></span>${s} <b data-count="${s}">${counts[s]}</b>
          </li>`,
      )}
    </ul>
  </div>`;
}

export const badge = (status: JobStatus): Html => html`<span class="badge s-${status}">${status}</span>`;

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : text;
}

/** `path?query` with the given parameters (undefined ones left out). */
export function withQuery(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function jobTable(base: string, jobs: JobResource[], opts: { showBatch: boolean }): Html {
  const rows = jobs.map(
    (j) =>
      html`<tr data-job-id="${j.id}">
        <td class="nowrap"><a class="mono" href="${base}/jobs/${j.id}" title="${j.id}">${j.id.slice(0, 8)}</a></td>
        <td data-field="status">${badge(j.status)}</td>
        <td class="mono hide-sm">${j.video_id}</td>
        <td class="prompt" title="${j.prompt}">${truncate(j.prompt, 90)}</td>
        ${opts.showBatch ? html`<td class="nowrap hide-sm">${j.batch_id ? html`<a class="mono" href="${base}/batches/${j.batch_id}" title="${j.batch_id}">${j.batch_id.slice(0, 8)}</a>` : html`<span class="muted">—</span>`}</td>` : ""}
        <td class="num" data-field="attempts">${j.attempts}</td>
        <td class="nowrap hide-sm">${shortTime(j.created_at)}</td>
        <td class="nowrap" data-field="finished_at">${shortTime(j.finished_at)}</td>
      </tr>`,
  );
  const columns = 7 + (opts.showBatch ? 1 : 0);
  return html`<p id="stale" class="notice" hidden>This list has changed since it was loaded: <a href="">reload</a>.</p>
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Job</th>
            <th>Status</th>
            <th class="hide-sm">Video</th>
            <th>Prompt</th>
            ${opts.showBatch ? raw('<th class="hide-sm">Batch</th>') : ""}
            <th>Attempts</th>
            <th class="hide-sm">Created (UTC)</th>
            <th>Finished (UTC)</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length > 0
              ? rows
              : html`<tr>
                  <td colspan="${columns}" class="muted">No jobs match.</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
}

function pager(path: string, filters: Record<string, string | number | undefined>, next: string | null, paged: boolean): Html {
  if (!next && !paged) return html``;
  return html`<nav class="pager">
    ${paged ? html`<a href="${withQuery(path, filters)}">« first page</a>` : ""}${
      next
        ? html`<a rel="next" href="${withQuery(path, { ...filters, cursor: next })}">next page »</a>`
        : html`<span class="muted">last page</span>`
    }
  </nav>`;
}

function batchRow(base: string, b: Pick<BatchResource, "id" | "total" | "counts" | "done" | "created_at">): Html {
  return html`<tr data-batch-id="${b.id}">
    <td class="nowrap" data-created>${shortTime(b.created_at)}</td>
    <td class="nowrap"><a class="mono" data-link href="${base}/batches/${b.id}">${b.id}</a></td>
    <td style="min-width:16rem">${progress(b)}</td>
  </tr>`;
}

export function batchesPage(args: {
  base: string;
  batches: BatchResource[];
  next: string | null;
  paged: boolean;
  pollUrl: string;
}): string {
  const { base } = args;
  const empty = {
    id: "",
    total: 0,
    counts: Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts,
    done: false,
    created_at: "",
  };
  return layout({
    base,
    title: "Batches",
    nav: "batches",
    data: { page: "batches", poll: args.pollUrl },
    body: html`<h1>Batches</h1>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Created (UTC)</th>
              <th>Batch</th>
              <th>Progress</th>
            </tr>
          </thead>
          <tbody id="batch-rows">
            ${args.batches.map((b) => batchRow(base, b))}
          </tbody>
        </table>
      </div>
      <p id="no-batches" class="muted" ${args.batches.length > 0 ? raw("hidden") : ""}>
        No batches yet. Create one with <code>POST /v1/batches</code>.
      </p>
      <template id="batch-row">${batchRow(base, empty)}</template>
      ${pager(base, {}, args.next, args.paged)}`,
  });
}

export function batchPage(args: {
  base: string;
  batch: BatchResource;
  jobs: JobResource[];
  status?: JobStatus;
  limit?: number;
  next: string | null;
  paged: boolean;
  pollUrl: string;
  jobsPollUrl: string;
}): string {
  const { base, batch } = args;
  const path = `${base}/batches/${batch.id}`;
  const filterLink = (status: JobStatus | undefined, label: Html) =>
    html`<a href="${withQuery(path, { status, limit: args.limit })}" ${args.status === status ? raw('aria-current="page"') : ""}
      >${label}</a
    >`;
  return layout({
    base,
    title: `Batch ${batch.id}`,
    nav: "batches",
    // A finished batch no longer changes: nothing to poll.
    data: { page: "batch", poll: batch.done ? undefined : args.pollUrl, "jobs-poll": args.jobsPollUrl },
    body: html`<h1>Batch <span class="mono">${batch.id}</span></h1>
      <div class="card">
        <dl class="fields">
          <dt>Created</dt>
          <dd>${batch.created_at}</dd>
          <dt>Jobs</dt>
          <dd>${batch.total} · <a href="${withQuery(`${base}/extensions`, { batch_id: batch.id })}">in the job list</a></dd>
          <dt>Callback URL</dt>
          <dd class="mono">${batch.callback_url ?? html`<span class="muted">none</span>`}</dd>
        </dl>
      </div>
      <div class="card">${progress(batch, { big: true })}</div>
      <nav class="filters" aria-label="status filter">
        ${filterLink(undefined, html`all <b>${batch.total}</b>`)}${JOB_STATUSES.map((s) =>
          filterLink(s, html`${s} <b data-count="${s}">${batch.counts[s]}</b>`),
        )}
      </nav>
      ${jobTable(base, args.jobs, { showBatch: false })} ${pager(path, { status: args.status, limit: args.limit }, args.next, args.paged)}`,
  });
}

export function extensionsPage(args: {
  base: string;
  jobs: JobResource[];
  status?: JobStatus;
  batchId?: string;
  limit?: number;
  next: string | null;
  paged: boolean;
  jobsPollUrl: string;
}): string {
  const { base } = args;
  const path = `${base}/extensions`;
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}" ${selected ? raw("selected") : ""}>${label}</option>`;
  return layout({
    base,
    title: "Extensions",
    nav: "extensions",
    data: { page: "extensions", "jobs-poll": args.jobsPollUrl },
    body: html`<h1>Extensions</h1>
      <form class="filters" method="get" action="${path}">
        <label
          >Status<select name="status">
            ${option("", "any", !args.status)}${JOB_STATUSES.map((s) => option(s, s, args.status === s))}
          </select></label
        >
        <label
          >Batch id<input name="batch_id" value="${args.batchId ?? ""}" placeholder="any batch" spellcheck="false" autocomplete="off"
        /></label>
        ${args.limit !== undefined ? html`<input type="hidden" name="limit" value="${args.limit}" />` : ""}
        <button type="submit">Filter</button>${args.status || args.batchId ? html` <a href="${path}">clear</a>` : ""}
      </form>
      ${jobTable(base, args.jobs, { showBatch: true })}
      ${pager(path, { status: args.status, batch_id: args.batchId, limit: args.limit }, args.next, args.paged)}`,
  });
}

const json = (value: unknown): string => JSON.stringify(value, null, 2);

function optional(value: string | number | null, mono = false): Html {
  if (value === null || value === "") return html`<span class="muted">—</span>`;
  return mono ? html`<span class="mono">${value}</span>` : html`${value}`;
}

function timeline(events: JobEventResource[]): Html {
  const rows = events.map(
    (e) =>
      html`<tr>
        <td class="nowrap mono">${e.at.slice(0, 23).replace("T", " ")}</td>
        <td>${e.source}</td>
        <td class="mono">${e.type}</td>
        <td class="nowrap">
          ${e.from_status || e.to_status ? html`${e.from_status ?? "·"} → ${e.to_status ? html`<b>${e.to_status}</b>` : html`<span class="muted">(no change)</span>`}` : html`<span class="muted">—</span>`}
        </td>
        <td class="prompt">
          ${e.detail ?? ""}${
            e.payload !== null
              ? html`<details>
                  <summary>payload</summary>
                  <pre>${json(e.payload)}</pre>
                </details>`
              : ""
          }
        </td>
      </tr>`,
  );
  return html`<div class="scroll">
    <table class="events">
      <thead>
        <tr>
          <th>Time (UTC)</th>
          <th>Source</th>
          <th>Type</th>
          <th>From → to</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length > 0
            ? rows
            : html`<tr>
                <td colspan="5" class="muted">No events.</td>
              </tr>`
        }
      </tbody>
    </table>
  </div>`;
}

export function jobPage(args: { base: string; job: JobResource; events: JobEventResource[]; pollUrl: string }): string {
  const { base, job } = args;
  const videoUrl = httpUrl(job.result?.url);
  const result =
    job.status === "succeeded" && job.result
      ? html`<h2>Result</h2>
          <div class="card">
            ${videoUrl ? html`<video controls preload="metadata" src="${videoUrl}"></video>` : ""}
            <dl class="fields">
              <dt>Video id</dt>
              <dd class="mono">${job.result.video_id}</dd>
              <dt>Duration</dt>
              <dd>${job.result.duration === null ? "—" : `${job.result.duration} s`}</dd>
              <dt>URL</dt>
              <dd class="mono">${videoUrl ? html`<a href="${videoUrl}" rel="noreferrer">${job.result.url}</a>` : job.result.url}</dd>
            </dl>
          </div>`
      : "";
  const error = job.error
    ? html`<div class="card error">
        <h2>Error <span class="mono">${job.error.code}</span></h2>
        <pre>${job.error.message || "(no message)"}</pre>
      </div>`
    : "";
  return layout({
    base,
    title: `Job ${job.id}`,
    nav: "extensions",
    data: { page: "job", poll: isTerminal(job.status) ? undefined : args.pollUrl, status: job.status },
    body: html`<h1>Job <span class="mono">${job.id}</span> ${badge(job.status)}</h1>
      ${error}${result}
      <div class="card">
        <dl class="fields">
          <dt>Status</dt>
          <dd>${badge(job.status)} <span class="muted">upstream: ${job.upstream_status ?? "—"}</span></dd>
          <dt>Batch</dt>
          <dd>
            ${job.batch_id ? html`<a class="mono" href="${base}/batches/${job.batch_id}">${job.batch_id}</a>` : html`<span class="muted">none</span>`}
          </dd>
          <dt>Source video</dt>
          <dd class="mono">${job.video_id}</dd>
          <dt>Prompt</dt>
          <dd><pre>${job.prompt}</pre></dd>
          <dt>Negative prompt</dt>
          <dd>${job.negative_prompt ? html`<pre>${job.negative_prompt}</pre>` : optional(null)}</dd>
          <dt>cfg_scale</dt>
          <dd>${optional(job.cfg_scale)}</dd>
          <dt>Callback URL</dt>
          <dd>${optional(job.callback_url, true)}</dd>
          <dt>Metadata</dt>
          <dd>${job.metadata === null ? optional(null) : html`<pre>${json(job.metadata)}</pre>`}</dd>
          <dt>Upstream task</dt>
          <dd>${optional(job.upstream_task_id, true)}</dd>
          <dt>Attempts</dt>
          <dd>${job.attempts}</dd>
          <dt>Created</dt>
          <dd>${job.created_at}</dd>
          <dt>Updated</dt>
          <dd>${job.updated_at}</dd>
          <dt>Submitted</dt>
          <dd>${optional(job.submitted_at)}</dd>
          <dt>Finished</dt>
          <dd>${optional(job.finished_at)}</dd>
        </dl>
      </div>
      <h2>Events</h2>
      ${timeline(args.events)}`,
  });
}

export function errorPage(args: { base: string; status: number; code: string; message: string; details?: unknown }): string {
  const details = Array.isArray(args.details)
    ? html`<ul>
        ${args.details.map((d: { field?: unknown; message?: unknown }) => html`<li><code>${String(d.field ?? "")}</code>: ${String(d.message ?? "")}</li>`)}
      </ul>`
    : "";
  const titles: Record<number, string> = { 400: "Bad request", 401: "Sign in required", 404: "Not found", 503: "Unavailable" };
  const title = titles[args.status] ?? (args.status >= 500 ? "Something went wrong" : "Error");
  return layout({
    base: args.base,
    title: `${args.status} ${title}`,
    body: html`<div class="card error">
      <h2>${args.status} · ${title}</h2>
      <p>${args.message}</p>
      ${details}
      <p class="muted">code <code>${args.code}</code> · <a href="${args.base}">back to batches</a></p>
    </div>`,
  });
}
