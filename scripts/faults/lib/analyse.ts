// After a scenario: everything its checks need, read from the outside (Postgres rows, the event log, the sandbox).
import { FINAL } from "../settings";
import type { Analysis, Ctx } from "../types";
import { listSandboxTasks, pgQuery } from "./stack-io";

/** Everything the checks need, read from the outside: Postgres rows, the event log, the sandbox. */
export async function analyse(ctx: Ctx, convergeMs: number | null, stalled: boolean, apiErrors: number): Promise<Analysis> {
  const jobs = await pgQuery<{
    id: string;
    status: string;
    error_code: string | null;
    upstream_task_id: string | null;
    result_video_id: string | null;
  }>(ctx.databaseUrl, "SELECT id::text AS id, status::text AS status, error_code, upstream_task_id, result_video_id FROM jobs");
  const events = await pgQuery<{ answer_lost: string; adopted: string; requeued: string; reconciled: string }>(
    ctx.databaseUrl,
    `SELECT
       (SELECT count(*) FROM jobs j WHERE j.upstream_task_id IS NOT NULL AND (
          NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'upstream_accepted')
          OR EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'upstream_accepted' AND e.detail LIKE '%adopted existing task%'))) AS answer_lost,
       (SELECT count(DISTINCT job_id) FROM job_events WHERE type = 'upstream_accepted' AND detail LIKE '%adopted existing task%') AS adopted,
       (SELECT count(*) FROM job_events WHERE source = 'sweeper' AND type = 'requeued') AS requeued,
       (SELECT count(*) FROM job_events WHERE source = 'reconciler' AND to_status IS NOT NULL) AS reconciled`,
  );
  const stats = await ctx.sandboxStats();
  const tasks = await listSandboxTasks(ctx.sandboxUrl);

  const byStatus: Record<string, number> = {};
  const failureCodes: Record<string, number> = {};
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of jobs) {
    byStatus[j.status] = (byStatus[j.status] ?? 0) + 1;
    if (j.status === "failed") failureCodes[j.error_code ?? "(none)"] = (failureCodes[j.error_code ?? "(none)"] ?? 0) + 1;
  }
  const finished = jobs.filter((j) => FINAL.has(j.status)).length;
  const missing = [...ctx.accepted].filter((id) => !byId.has(id)).length;

  // Does upstream agree with Postgres? Every upstream task must be the one its job records, with the same outcome.
  const mismatches: string[] = [];
  const taskIds = new Set<string>();
  for (const t of tasks) {
    taskIds.add(t.task_id);
    const ext = t.task_info?.external_task_id;
    if (!ext) {
      mismatches.push(`task ${t.task_id} has no external_task_id`);
      continue;
    }
    const jobId = ext.slice(0, ext.lastIndexOf("-"));
    const job = byId.get(jobId);
    if (!job) {
      mismatches.push(`task ${t.task_id} (${ext}): no such job in Postgres`);
      continue;
    }
    if (job.upstream_task_id !== t.task_id) {
      mismatches.push(
        `task ${t.task_id} (${ext}, upstream ${t.task_status}): job ${job.id} is ${job.status} and records task ${job.upstream_task_id ?? "none"}`,
      );
      continue;
    }
    const expected = t.task_status === "succeed" ? "succeeded" : t.task_status === "failed" ? "failed" : null;
    if (expected === null) {
      if (FINAL.has(job.status)) mismatches.push(`task ${t.task_id}: still ${t.task_status} upstream but job ${job.id} is ${job.status}`);
    } else if (job.status !== expected && job.status !== "canceled") {
      mismatches.push(`task ${t.task_id}: upstream ${t.task_status}, job ${job.id} is ${job.status} (${job.error_code ?? "-"})`);
    } else if (expected === "succeeded" && job.result_video_id !== (t.task_result?.videos?.[0]?.id ?? null)) {
      mismatches.push(`task ${t.task_id}: result video ${t.task_result?.videos?.[0]?.id} upstream, ${job.result_video_id} in Postgres`);
    }
  }
  for (const j of jobs) {
    if (j.upstream_task_id && !taskIds.has(j.upstream_task_id))
      mismatches.push(`job ${j.id} records task ${j.upstream_task_id}, unknown upstream`);
    if (j.status === "succeeded" && !j.upstream_task_id) mismatches.push(`job ${j.id} succeeded without an upstream task`);
  }

  const e = events[0]!;
  return {
    submitted: ctx.accepted.size,
    rows: jobs.length,
    byStatus,
    finished,
    lost: jobs.length - finished + missing,
    missing,
    failureCodes,
    stats,
    dbPeakInFlight: ctx.progress.dbPeakInFlight,
    convergeMs,
    stalled,
    mismatches,
    answerLost: Number(e.answer_lost),
    adopted: Number(e.adopted),
    sweeperRequeues: Number(e.requeued),
    reconcilerFixes: Number(e.reconciled),
    apiErrors,
  };
}
