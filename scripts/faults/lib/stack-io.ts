// Talking to a running scenario from the outside: Postgres rows, the api, the sandbox and the submit queue.
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { API_TOKEN, CHUNK, FINAL, IN_FLIGHT, QUEUE_BACKEND, SANDBOX_KEY, secs } from "../settings";
import type { Ctx } from "../types";
import { openSubmitQueue } from "./queue";

export async function pgQuery<T extends Record<string, unknown>>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000, statement_timeout: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function item(scenarioIndex: number, i: number) {
  // 18 digits, unique per scenario and job: a fresh source video for the sandbox.
  const videoId = `7${String(scenarioIndex).padStart(2, "0")}${String(i).padStart(15, "0")}`;
  return { video_id: videoId, prompt: `fault suite job ${i}: the camera keeps moving forward`, metadata: { i } };
}

/**
 * Posts `jobs.count` items (numbered from `jobs.offset`: each number is a distinct source video) in
 * batches of CHUNK. A batch POST is not idempotent, so it is retried only when the api certainly wrote
 * nothing: 503 (Postgres unavailable) or a refused connection. Any other failure may have stored the
 * batch: it is reported and that chunk is not sent again.
 */
export async function submitAll(
  ctx: Ctx,
  scenarioIndex: number,
  counters: { apiErrors: number; rateLimited?: number },
  jobs: { count: number; offset: number },
): Promise<void> {
  const report = (line: string) => {
    counters.apiErrors++;
    if (counters.apiErrors <= 5) ctx.notes.push(line);
    if (counters.apiErrors > 40) throw new Error(`the api failed ${counters.apiErrors} times; stopped submitting`);
  };
  const end = jobs.offset + jobs.count;
  for (let start = jobs.offset; start < end; start += CHUNK) {
    const items = Array.from({ length: Math.min(CHUNK, end - start) }, (_, k) => item(scenarioIndex, start + k));
    for (;;) {
      let retry = false;
      let rateLimitedMs = 0;
      try {
        const res = await fetch(`${ctx.apiUrl}/v1/batches`, {
          method: "POST",
          headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ items }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 202) {
          const body = JSON.parse(text) as { jobs?: unknown };
          if (!Array.isArray(body.jobs)) {
            report(`POST /v1/batches answered 202 without a jobs array: ${text.slice(0, 160)}`);
          } else for (const id of body.jobs) ctx.accepted.add(String(id));
        } else if (res.status === 429) {
          // Rate limited (per tenant): nothing stored; wait as told.
          retry = true;
          rateLimitedMs = Math.min(10_000, 1000 * Number(res.headers.get("retry-after") ?? 1) || 1000);
          counters.rateLimited = (counters.rateLimited ?? 0) + 1;
        } else {
          retry = res.status === 503;
          report(
            `POST /v1/batches (jobs ${start}..${start + items.length - 1}) answered ${res.status}: ${text.slice(0, 200)}${retry ? " (retried)" : " (not retried: it may have been stored)"}`,
          );
        }
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        retry = cause === "ECONNREFUSED";
        report(`POST /v1/batches failed: ${(err as Error).message}${cause ? ` (${cause})` : ""}${retry ? " (retried)" : " (not retried)"}`);
      }
      if (!retry) break;
      if (Date.now() > ctx.deadline) throw new Error("could not submit every batch before the deadline");
      await sleep(rateLimitedMs || 500);
    }
    await sleep(150);
  }
}

/** Polls Postgres for the status counts; tolerates Postgres being down (keeps the last answer). */
export async function monitor(ctx: Ctx, stop: { done: boolean }): Promise<void> {
  while (!stop.done) {
    try {
      const rows = await pgQuery<{ status: string; n: string }>(
        ctx.databaseUrl,
        "SELECT status::text AS status, count(*) AS n FROM jobs GROUP BY 1",
      );
      const byStatus: Record<string, number> = {};
      for (const r of rows) byStatus[r.status] = Number(r.n);
      const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
      const final = Object.entries(byStatus).reduce((a, [s, n]) => a + (FINAL.has(s) ? n : 0), 0);
      const inFlight = Object.entries(byStatus).reduce((a, [s, n]) => a + (IN_FLIGHT.has(s) ? n : 0), 0);
      const now = Date.now();
      ctx.progress = {
        rows: total,
        final,
        lastFinishedAt: final > ctx.progress.final ? now : ctx.progress.lastFinishedAt,
        byStatus,
        dbPeakInFlight: Math.max(ctx.progress.dbPeakInFlight, inFlight),
        observedAt: now,
      };
    } catch {
      // Postgres restarting: try again.
    }
    if (process.stdout.isTTY) {
      const p = ctx.progress;
      process.stdout.write(
        `\r  ${secs(Date.now() - ctx.started).padStart(7)}  final ${p.final}/${ctx.accepted.size}  ${Object.entries(p.byStatus)
          .filter(([st]) => !FINAL.has(st))
          .map(([st, n]) => `${st} ${n}`)
          .join(", ")}\x1b[K`,
      );
    }
    await sleep(400);
  }
}

/** Polls the api's /readyz; records whether it reported the upstream account paused. */
export async function watchReadyz(ctx: Ctx, stop: { done: boolean }): Promise<void> {
  while (!stop.done) {
    try {
      const res = await fetch(`${ctx.apiUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { checks?: { upstream_account?: unknown } };
      const account = body.checks?.upstream_account;
      const paused = typeof account === "object" && account !== null && (account as { status?: string }).status === "paused";
      ctx.readyz.push({ at: Date.now(), paused, status: res.status });
    } catch {
      ctx.readyz.push({ at: Date.now(), paused: false, status: 0 });
    }
    await sleep(250);
  }
}

interface SandboxTask {
  task_id: string;
  task_status: string;
  task_info?: { external_task_id?: string };
  task_result?: { videos?: Array<{ id: string }> };
}

export async function listSandboxTasks(sandboxUrl: string): Promise<SandboxTask[]> {
  const all: SandboxTask[] = [];
  for (let page = 1; page <= 1000; page++) {
    const body = await getJson<{ data: SandboxTask[] }>(`${sandboxUrl}/kling/v1/videos/video-extend?pageNum=${page}&pageSize=500`, {
      headers: { authorization: `Bearer ${SANDBOX_KEY}` },
    });
    all.push(...body.data);
    if (body.data.length < 500) break;
  }
  return all;
}

/**
 * While the workers still run: what the submit queue holds, and what the submits BullMQ has active
 * are doing in Postgres (a submit waiting for an account slot is `queued`; one calling upstream is
 * `submitting`), and how many account slots Postgres counts as taken, by status.
 */
export async function liveQueueSnapshot(ctx: Ctx): Promise<string[]> {
  const lines: string[] = [];
  let opened: Awaited<ReturnType<typeof openSubmitQueue>> | undefined;
  try {
    opened = await openSubmitQueue(ctx);
    const { queue } = opened;
    lines.push(
      `while running: BullMQ (${QUEUE_BACKEND}) ${JSON.stringify(await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed"))}`,
    );
    const active = await queue.getActive(0, 999);
    const rows = await pgQuery<{ status: string; n: string }>(
      ctx.databaseUrl,
      "SELECT status::text AS status, count(*) AS n FROM jobs WHERE id::text = ANY($1) GROUP BY 1",
      [active.map((j) => j.id)],
    );
    lines.push(`while running: ${active.length} active submits, their rows: ${rows.map((r) => `${r.status} ${r.n}`).join(", ") || "-"}`);
    const slots = await pgQuery<{ status: string; n: string; delayed: string }>(
      ctx.databaseUrl,
      "SELECT status::text AS status, count(*) AS n FROM jobs WHERE status IN ('submitting', 'submitted', 'processing') GROUP BY 1",
    );
    const delayed = new Set((await queue.getDelayed(0, 9999)).map((j) => j.id));
    const submittingIds = await pgQuery<{ id: string }>(ctx.databaseUrl, "SELECT id::text AS id FROM jobs WHERE status = 'submitting'");
    const inBackoff = submittingIds.filter((r) => delayed.has(r.id)).length;
    lines.push(
      `while running: account slots held in Postgres: ${slots.map((r) => `${r.status} ${r.n}`).join(", ") || "none"} (of the submitting ones, ${inBackoff} are waiting in BullMQ's delayed set)`,
    );
  } catch (err) {
    lines.push(`snapshot failed: ${(err as Error).message}`);
  } finally {
    await opened?.close();
  }
  return lines;
}

/**
 * Why are jobs not final? For a few of them: the row, the last events, and where their submit is in
 * BullMQ; plus what the submits BullMQ considers active are doing in Postgres.
 */
export async function diagnoseStuck(ctx: Ctx): Promise<string[]> {
  const lines: string[] = [];
  const stuck = await pgQuery<{ id: string; status: string; attempts: number; updated_at: Date; upstream_task_id: string | null }>(
    ctx.databaseUrl,
    `SELECT id::text AS id, status::text AS status, attempts, updated_at, upstream_task_id FROM jobs
     WHERE status NOT IN ('succeeded', 'failed', 'canceled')
     ORDER BY (status = 'queued'), updated_at LIMIT 5`,
  );
  let opened: Awaited<ReturnType<typeof openSubmitQueue>> | undefined;
  try {
    opened = await openSubmitQueue(ctx);
    const { queue } = opened;
    lines.push(
      `after stopping the workers: BullMQ (${QUEUE_BACKEND}) ${JSON.stringify(await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed"))}`,
    );
    for (const row of stuck) {
      const state = await queue.getJobState(row.id).catch((err: unknown) => `? (${(err as Error).message})`);
      const job = await queue.getJob(row.id).catch(() => undefined);
      const bull = job
        ? `attemptsMade ${job.attemptsMade}, stalled ${String((job as unknown as { stalledCounter?: number }).stalledCounter ?? "-")}${job.failedReason ? `, failedReason "${job.failedReason}"` : ""}`
        : "no BullMQ job";
      lines.push(
        `job ${row.id}: ${row.status}, attempts ${row.attempts}, task ${row.upstream_task_id ?? "none"}, unchanged since ${secs(Date.now() - new Date(row.updated_at).getTime())} ago; BullMQ ${state} (${bull})`,
      );
      const events = await pgQuery<{
        at: Date;
        source: string;
        type: string;
        from_status: string | null;
        to_status: string | null;
        detail: string | null;
      }>(
        ctx.databaseUrl,
        "SELECT at, source::text AS source, type, from_status::text AS from_status, to_status::text AS to_status, detail FROM job_events WHERE job_id = $1::uuid ORDER BY id DESC LIMIT 6",
        [row.id],
      );
      for (const e of events.reverse()) {
        lines.push(
          `    ${new Date(e.at).toISOString().slice(11, 23)} ${e.source} ${e.type}${e.to_status ? ` ${e.from_status}→${e.to_status}` : ""}${e.detail ? `: ${e.detail.slice(0, 120)}` : ""}`,
        );
      }
    }
  } catch (err) {
    lines.push(`diagnosis failed: ${(err as Error).message}`);
  } finally {
    await opened?.close();
  }
  return lines;
}
