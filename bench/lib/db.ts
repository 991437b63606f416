// Direct SQL on the bench database: a fresh database, row preparation and counters. Only ever the
// bench's own database (kling_bench by default).
import { randomUUID } from "node:crypto";
import { databaseName, dropDatabase } from "@kex/testing";
import { Client } from "pg";
import { prepareDatabase } from "../../scripts/lib/infra";

/** Drops the bench database (if any) and creates it migrated: every run starts from zero rows. */
export async function freshDatabase(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  if (!/^kling_bench/.test(name)) throw new Error(`refusing to drop ${name}: the bench database's name must start with kling_bench`);
  await dropDatabase(databaseUrl);
  await prepareDatabase(databaseUrl);
}

export async function connect(databaseUrl: string): Promise<Client> {
  const client = new Client({ connectionString: databaseUrl });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

export async function countJobs(pg: Client): Promise<number> {
  const { rows } = await pg.query<{ n: string }>("SELECT count(*) AS n FROM jobs");
  return Number(rows[0]?.n ?? 0);
}

/** Counts by status for these batches. */
export async function batchProgress(pg: Client, batchIds: string[]): Promise<{ finished: number; succeeded: number; byStatus: Record<string, number> }> {
  const { rows } = await pg.query<{ status: string; n: string }>(
    "SELECT status::text AS status, count(*) AS n FROM jobs WHERE batch_id = ANY($1::uuid[]) GROUP BY status",
    [batchIds],
  );
  const byStatus: Record<string, number> = {};
  for (const r of rows) byStatus[r.status] = Number(r.n);
  const succeeded = byStatus.succeeded ?? 0;
  return { succeeded, finished: succeeded + (byStatus.failed ?? 0) + (byStatus.canceled ?? 0), byStatus };
}

export async function lastFinishedAt(pg: Client, batchIds: string[]): Promise<Date | null> {
  const { rows } = await pg.query<{ t: Date | null }>("SELECT max(finished_at) AS t FROM jobs WHERE batch_id = ANY($1::uuid[])", [batchIds]);
  return rows[0]?.t ?? null;
}

/** Database-wide activity counters (pg_stat_database and pg_stat_user_tables), for per-job ratios. */
export interface PgCounters {
  xactCommit: number;
  xactRollback: number;
  tupInserted: number;
  tupUpdated: number;
  tupDeleted: number;
  /** Rows inserted, updated or deleted in tables outside `public`: the Postgres queue's schema (0 on Redis). */
  queueTupWritten: number;
  tupReturned: number;
  tupFetched: number;
  blksRead: number;
  blksHit: number;
  jobsSeqScan: number;
  jobsSeqTupRead: number;
  jobsIdxScan: number;
  eventsInserted: number;
}

export async function pgCounters(pg: Client): Promise<PgCounters> {
  // Statistics are cached per transaction; start from a fresh snapshot.
  await pg.query("SELECT pg_stat_clear_snapshot()");
  const db = await pg.query<Record<string, string>>(
    `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched, blks_read, blks_hit
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const t = await pg.query<{ relname: string; seq_scan: string; seq_tup_read: string; idx_scan: string | null; n_tup_ins: string }>(
    "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_tup_ins FROM pg_stat_user_tables WHERE relname IN ('jobs', 'job_events')",
  );
  const q = await pg.query<{ n: string | null }>(
    "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS n FROM pg_stat_user_tables WHERE schemaname <> 'public'",
  );
  const d = db.rows[0] ?? {};
  const jobs = t.rows.find((r) => r.relname === "jobs");
  const events = t.rows.find((r) => r.relname === "job_events");
  const n = (v: string | null | undefined) => Number(v ?? 0);
  return {
    xactCommit: n(d.xact_commit),
    xactRollback: n(d.xact_rollback),
    tupInserted: n(d.tup_inserted),
    tupUpdated: n(d.tup_updated),
    tupDeleted: n(d.tup_deleted),
    queueTupWritten: n(q.rows[0]?.n),
    tupReturned: n(d.tup_returned),
    tupFetched: n(d.tup_fetched),
    blksRead: n(d.blks_read),
    blksHit: n(d.blks_hit),
    jobsSeqScan: n(jobs?.seq_scan),
    jobsSeqTupRead: n(jobs?.seq_tup_read),
    jobsIdxScan: n(jobs?.idx_scan),
    eventsInserted: n(events?.n_tup_ins),
  };
}

export function diffCounters(after: PgCounters, before: PgCounters): PgCounters {
  const out = {} as PgCounters;
  for (const key of Object.keys(after) as Array<keyof PgCounters>) out[key] = after[key] - before[key];
  return out;
}

/**
 * Moves `count` queued jobs to `processing` with an upstream task id, as if upstream had accepted them:
 * the steady state a duplicate `processing` callback meets. Returns their ids and task ids.
 */
export async function prepareProcessingJobs(pg: Client, count: number): Promise<Array<{ id: string; taskId: string }>> {
  const { rows } = await pg.query<{ id: string; upstream_task_id: string }>(
    `UPDATE jobs SET status = 'processing', upstream_status = 'processing', upstream_task_id = 'wh-' || id::text,
         external_task_id = id::text || '-1', attempts = 1, submitted_at = now(), updated_at = now()
       WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' ORDER BY random() LIMIT $1)
     RETURNING id, upstream_task_id`,
    [count],
  );
  return rows.map((r) => ({ id: r.id, taskId: r.upstream_task_id }));
}

/** Ends every job the bench left unfinished (so the e2e worker starts with free slots and an empty backlog). */
export async function finishLeftovers(pg: Client): Promise<number> {
  const done = await pg.query(
    `UPDATE jobs SET status = 'succeeded', upstream_status = 'succeed', finished_at = now(), updated_at = now()
       WHERE status = 'processing'`,
  );
  const canceled = await pg.query(`UPDATE jobs SET status = 'canceled', finished_at = now(), updated_at = now() WHERE status = 'queued'`);
  return (done.rowCount ?? 0) + (canceled.rowCount ?? 0);
}

/** `n` random job ids (for rotating GETs over the whole table). */
export async function sampleJobIds(pg: Client, n: number): Promise<string[]> {
  const { rows } = await pg.query<{ id: string }>("SELECT id FROM jobs ORDER BY random() LIMIT $1", [n]);
  return rows.map((r) => r.id);
}

/**
 * Grows `jobs` to `total` rows with finished jobs (in batches of 10,000, like real ones), plus
 * `eventsPerJob` event rows each, straight in SQL (generate_series), in chunks of 100,000 rows.
 */
export async function growJobs(pg: Client, args: { total: number; eventsPerJob: number; log: (line: string) => void }): Promise<{ inserted: number; ms: number }> {
  const started = Date.now();
  const existing = await countJobs(pg);
  let inserted = 0;
  const chunk = 100_000;
  let offset = 0;
  while (existing + inserted < args.total) {
    const n = Math.min(chunk, args.total - existing - inserted);
    const batchIds = Array.from({ length: Math.ceil(n / 10_000) }, () => randomUUID());
    await pg.query("BEGIN");
    await pg.query("INSERT INTO batches (id, total, created_at) SELECT b, 10000, now() - interval '30 days' FROM unnest($1::uuid[]) AS b", [batchIds]);
    await pg.query(
      `INSERT INTO jobs (id, batch_id, status, video_id, prompt, negative_prompt, cfg_scale, metadata, external_task_id,
                         upstream_task_id, upstream_status, attempts, result_video_id, result_url, result_duration,
                         created_at, updated_at, submitted_at, finished_at)
       SELECT s.id, ($1::uuid[])[1 + (s.g / 10000)], 'succeeded',
              '8' || lpad((s.g + $2)::text, 17, '0'), 'the camera keeps drifting over the harbour at dusk, number ' || s.g,
              CASE WHEN s.g % 3 = 0 THEN 'blurry, low quality' END, CASE WHEN s.g % 4 = 0 THEN 0.6 END,
              jsonb_build_object('bench', true, 'index', s.g + $2), s.id::text || '-1', 'gen-' || (s.g + $2),
              'succeed', 1, '9' || lpad((s.g + $2)::text, 17, '0'), 'http://127.0.0.1/videos/' || (s.g + $2) || '.mp4', 9.5,
              s.t, s.t + interval '2 minutes', s.t + interval '1 second', s.t + interval '2 minutes'
         FROM (SELECT gen_random_uuid() AS id, g, now() - interval '30 days' + g * interval '1 millisecond' AS t
                 FROM generate_series(0, $3::int - 1) AS g) AS s`,
      [batchIds, existing + offset, n],
    );
    if (args.eventsPerJob > 0) {
      await pg.query(
        `INSERT INTO job_events (job_id, at, source, type, from_status, to_status)
         SELECT j.id, j.created_at + e * interval '1 second', 'api', CASE WHEN e = 0 THEN 'created' ELSE 'upstream_succeed' END,
                CASE WHEN e = 0 THEN NULL ELSE 'processing'::job_status END, CASE WHEN e = 0 THEN 'queued'::job_status ELSE 'succeeded'::job_status END
           FROM jobs j CROSS JOIN generate_series(0, $2::int - 1) AS e
          WHERE j.batch_id = ANY($1::uuid[])`,
        [batchIds, args.eventsPerJob],
      );
    }
    await pg.query("COMMIT");
    inserted += n;
    offset += n;
    args.log(`    grown to ${existing + inserted} jobs (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  await pg.query("VACUUM ANALYZE jobs");
  await pg.query("VACUUM ANALYZE job_events");
  await pg.query("VACUUM ANALYZE batches");
  return { inserted, ms: Date.now() - started };
}
