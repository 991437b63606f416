// `npx tsx bench/micro.ts`: the data-layer hot paths of `npm run bench` (packages/db as it is now),
// each next to a minimal hand-written pg equivalent, in one process, on the bench database
// (kling_bench, recreated). This was the evidence for moving those paths off Prisma (bench/FINDINGS.md);
// now it shows how close packages/db is to the minimum: per operation, wall time and this process's CPU.
//
// BENCH_MICRO_SECONDS (default 4) per measurement; BENCH_MICRO_CONCURRENCY (default 10).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "@kex/core";
import { claimManyForSubmit, createBatch, createDb, encodeBatchItems, getJob, insertJobEvent, JOB_SELECT, type Db } from "@kex/db";
import { Engine } from "@kex/engine";
import { createJobsFinishedCounter, createMetricsRegistry } from "@kex/metrics";
import { Pool } from "pg";
import { freshDatabase } from "./lib/db";
import { percentile } from "./lib/load";
import { fmt, fmtInt, renderTable, type Row } from "./lib/report";

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_bench";
const SECONDS = Number(process.env.BENCH_MICRO_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_MICRO_CONCURRENCY ?? 10);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Measured {
  name: string;
  ops: number;
  opsPerS: number;
  cpuUsPerOp: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `op` from `concurrency` loops for `seconds` (bounded), measuring wall latency and process CPU. */
async function measure(name: string, op: (i: number) => Promise<unknown>, opts: { seconds?: number; concurrency?: number; maxOps?: number } = {}): Promise<Measured> {
  const seconds = opts.seconds ?? SECONDS;
  const concurrency = opts.concurrency ?? CONCURRENCY;
  const maxOps = opts.maxOps ?? 1_000_000;
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && next < maxOps) {
        const i = next++;
        const s = performance.now();
        await op(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const m = {
    name,
    ops: latencies.length,
    opsPerS: latencies.length / wallS,
    cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, latencies.length),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
  say(`  ${name}: ${fmtInt(m.opsPerS)} ops/s, node CPU ${fmt(m.cpuUsPerOp, 0)} µs/op, p50 ${fmt(m.p50Ms, 2)} ms, p99 ${fmt(m.p99Ms, 2)} ms`);
  return m;
}

function items(n: number, first: number) {
  return Array.from({ length: n }, (_, i) => ({
    video_id: `8${String(first + i).padStart(17, "0")}`,
    prompt: `the camera keeps drifting over the harbour at dusk (take ${first + i})`,
    ...(i % 3 === 0 ? { negative_prompt: "blurry, low quality" } : {}),
    ...(i % 4 === 0 ? { cfg_scale: 0.6 } : {}),
    metadata: { bench: true, index: first + i },
  }));
}

/** The proposed raw insert: one statement per table, columns as arrays (unnest), in one transaction. */
async function rawCreateBatch(pool: Pool, list: ReturnType<typeof items>): Promise<string[]> {
  const batchId = randomUUID();
  const ids = list.map(() => randomUUID());
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("INSERT INTO batches (id, total) VALUES ($1, $2)", [batchId, list.length]);
    await client.query(
      `INSERT INTO jobs (id, batch_id, video_id, prompt, negative_prompt, cfg_scale, metadata)
       SELECT id, $2::uuid, v, p, np, c, m FROM unnest($1::uuid[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::jsonb[]) AS t(id, v, p, np, c, m)`,
      [
        ids,
        batchId,
        list.map((x) => x.video_id),
        list.map((x) => x.prompt),
        list.map((x) => x.negative_prompt ?? null),
        list.map((x) => x.cfg_scale ?? null),
        list.map((x) => JSON.stringify(x.metadata)),
      ],
    );
    await client.query(`INSERT INTO job_events (job_id, source, type, to_status) SELECT id, 'api', 'created', 'queued' FROM unnest($1::uuid[]) AS id`, [ids]);
    await client.query("COMMIT");
    return ids;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** A claim in one round trip: lock, count and update inside a plpgsql function (each statement gets a fresh snapshot). */
const CLAIM_FUNCTION = `
CREATE OR REPLACE FUNCTION bench_claim_for_submit(p_job uuid, p_max int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  IF p_max > 0 THEN
    PERFORM pg_advisory_xact_lock(7391001);
    IF (SELECT count(*) FROM jobs WHERE status IN ('submitting', 'submitted', 'processing')
          OR (status = 'canceled' AND upstream_status IN ('submitted', 'processing'))) >= p_max THEN
      RETURN CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE id = p_job AND status = 'queued') THEN 'no_slot' ELSE 'not_queued' END;
    END IF;
  END IF;
  UPDATE jobs SET status = 'submitting', updated_at = now(), external_task_id = COALESCE(external_task_id, id::text || '-1')
   WHERE id = p_job AND status = 'queued';
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n = 0 THEN RETURN 'not_queued'; END IF;
  INSERT INTO job_events (job_id, source, type, from_status, to_status) VALUES (p_job, 'worker', 'submit_started', 'queued', 'submitting');
  RETURN 'claimed';
END $$;`;

async function main(): Promise<void> {
  say(`micro benchmarks on ${new URL(DATABASE_URL).pathname.slice(1)} (fresh), ${SECONDS} s each, concurrency ${CONCURRENCY}`);
  await freshDatabase(DATABASE_URL);
  const db = createDb({ url: DATABASE_URL, poolMax: 10 });
  const engine = new Engine({
    db,
    enqueue: async () => undefined,
    metrics: { jobsFinished: createJobsFinishedCounter(createMetricsRegistry({ defaultMetrics: false })) },
    logger: createLogger({ name: "micro", level: "silent" }),
    clock: () => new Date(),
  });
  const claimOne = (d: Db, jobId: string, maxInFlight: number) => claimManyForSubmit(d, { jobIds: [jobId], maxInFlight });
  const pool = new Pool({ connectionString: DATABASE_URL, max: 10 });
  const results: Array<{ group: string; current: Measured; proposed: Measured; labels?: readonly [string, string] }> = [];
  try {
    // Seed: 40,000 jobs through the current createBatch.
    const seeded: string[] = [];
    for (let b = 0; b < 4; b++) seeded.push(...(await createBatch(db, { items: encodeBatchItems(items(10_000, b * 10_000)) })).jobIds);
    await pool.query("ANALYZE jobs");
    await pool.query(CLAIM_FUNCTION);

    say("\n[status GET] one job by id");
    const get1 = await measure("getJob (pg, named statement)", (i) => getJob(db, seeded[(i * 7919) % seeded.length]!));
    const get2 = await measure("pg SELECT * FROM jobs WHERE id = $1", (i) => pool.query("SELECT * FROM jobs WHERE id = $1", [seeded[(i * 7919) % seeded.length]!]));
    results.push({ group: "GET one job", current: get1, proposed: get2 });

    // The data-access rule (docs/architecture.md#data-access): hot statements run through Prisma
    // unless that costs more than 15 % of end-to-end throughput. The same SQL text, once through
    // Prisma's raw-query path and once as a pg named statement on the same pool.
    say("\n[data-access rule] the same statement through Prisma ($queryRawUnsafe) and through pg");
    const byId = `SELECT ${JOB_SELECT} FROM jobs WHERE id = $1::uuid`;
    const rawRead = await measure("prisma.$queryRawUnsafe: read one job by id", (i) => db.prisma.$queryRawUnsafe(byId, seeded[(i * 7919) % seeded.length]!));
    const pgRead = await measure("sql/get-job.ts on pg: read one job by id", (i) => getJob(db, seeded[(i * 7919) % seeded.length]!));
    results.push({ group: "rule: read by id", current: pgRead, proposed: rawRead, labels: ["pg", "Prisma"] });
    const eventSql = `INSERT INTO job_events (job_id, source, type, detail, payload, at) VALUES ($1::uuid, 'webhook'::event_source, 'bench', 'micro', $2::jsonb, $3)`;
    const rawWrite = await measure("prisma.$executeRawUnsafe: append one job event", (i) =>
      db.prisma.$executeRawUnsafe(eventSql, seeded[i % seeded.length]!, JSON.stringify({ task_id: "t", task_status: "processing" }), new Date()),
    );
    const pgWrite = await measure("sql/insert-job-event.ts on pg: append one job event", (i) =>
      insertJobEvent(db, { jobId: seeded[i % seeded.length]!, source: "webhook", type: "bench", detail: "micro", payload: { task_id: "t", task_status: "processing" }, at: new Date() }),
    );
    results.push({ group: "rule: write one row", current: pgWrite, proposed: rawWrite, labels: ["pg", "Prisma"] });
    // Per finished job the pipeline runs ~10 hot statements (bench/FINDINGS.md: 10.3 Postgres
    // statements per finished job) and costs ~7 ms of our own CPU (api + worker + Postgres) on this
    // machine's CPU-bound end-to-end phase: the extra Node CPU of Prisma's path, times 10, over 7 ms, is
    // the end-to-end throughput it would cost.
    const extraUs = ((rawRead.cpuUsPerOp - pgRead.cpuUsPerOp) + (rawWrite.cpuUsPerOp - pgWrite.cpuUsPerOp)) / 2;
    const share = (10 * extraUs) / 7000;
    say(`  Prisma's raw path costs ${fmt(extraUs, 0)} µs more Node CPU per statement: ~${fmt(share * 100, 0)} % of end-to-end throughput (rule: stay on Prisma below 15 %)`);

    say("\n[ingest] one batch of 10,000 jobs (sequential)");
    let first = 100_000;
    const ins1 = await measure("createBatch (items encoded as JSON, a statement per 500, 1 transaction)", () => createBatch(db, { items: encodeBatchItems(items(10_000, (first += 10_000))) }), { concurrency: 1, seconds: SECONDS * 2, maxOps: 4 });
    const ins2 = await measure("pg unnest INSERT (3 statements, 1 transaction)", () => rawCreateBatch(pool, items(10_000, (first += 10_000))), { concurrency: 1, seconds: SECONDS * 2, maxOps: 4 });
    results.push({ group: "insert 10k batch (per batch)", current: ins1, proposed: ins2 });

    say("\n[webhook] duplicate 'processing' report for a job in 'processing'");
    const processing = (await pool.query<{ id: string }>(
      `UPDATE jobs SET status = 'processing', upstream_status = 'processing', upstream_task_id = 'm-' || id::text, external_task_id = id::text || '-1'
        WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' LIMIT 5000) RETURNING id`,
    )).rows.map((r) => r.id);
    const task = (id: string) => ({ task_id: `m-${id}`, task_status: "processing" as const, task_status_msg: "" });
    const wh1 = await measure("engine.applyUpstreamReport (1 read + 1 statement)", (i) => {
      const id = processing[i % processing.length]!;
      return engine.applyUpstreamReport({ jobId: id, task: task(id), source: "webhook", payload: task(id) });
    });
    const wh2 = await measure("pg one statement (INSERT event … SELECT FROM jobs)", (i) => {
      const id = processing[i % processing.length]!;
      return pool.query(
        `INSERT INTO job_events (job_id, source, type, from_status, detail, payload)
         SELECT id, 'webhook', 'upstream_processing', status, 'duplicate', $2::jsonb FROM jobs WHERE id = $1 AND upstream_task_id = $3
         RETURNING (SELECT status FROM jobs WHERE id = $1)`,
        [id, JSON.stringify(task(id)), `m-${id}`],
      );
    });
    results.push({ group: "duplicate callback", current: wh1, proposed: wh2 });

    say(`\n[claim] queued → submitting, concurrency 64, with 1,000 jobs already holding slots`);
    await pool.query("UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE status = 'processing'");
    await pool.query("VACUUM ANALYZE jobs");
    await pool.query(
      `UPDATE jobs SET status = 'submitted', upstream_task_id = 's-' || id::text, external_task_id = id::text || '-1'
        WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' LIMIT 1000)`,
    );
    const queued = async (n: number) => (await pool.query<{ id: string }>("SELECT id FROM jobs WHERE status = 'queued' ORDER BY random() LIMIT $1", [n])).rows.map((r) => r.id);
    const free = async (ids: string[]) => {
      // Put claimed jobs back so the in-flight count stays ~1,000 for the next run.
      await pool.query("UPDATE jobs SET status = 'queued', external_task_id = NULL WHERE id = ANY($1::uuid[])", [ids]);
    };
    const slotCount = await pool.query<{ "QUERY PLAN": unknown }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM jobs WHERE status IN ('submitting', 'submitted', 'processing')
         OR (status = 'canceled' AND upstream_status IN ('submitted', 'processing'))`,
    );
    const plan = (slotCount.rows[0]?.["QUERY PLAN"] as Array<{ "Execution Time": number }>)[0];
    say(`  the slot count under the lock (1,000 in flight): ${fmt(plan?.["Execution Time"] ?? NaN, 2)} ms in Postgres`);
    let ids = await queued(20_000);
    const cl1 = await measure("claimManyForSubmit of one job, KLING_MAX_IN_FLIGHT 100000 (lock, count, claim in a pg transaction)", (i) => claimOne(db, ids[i]!, 100_000), { concurrency: 64, maxOps: ids.length });
    await free(ids.slice(0, cl1.ops));
    ids = await queued(20_000);
    const cl0 = await measure("claimManyForSubmit of one job, KLING_MAX_IN_FLIGHT 0 (no lock)", (i) => claimOne(db, ids[i]!, 0), { concurrency: 64, maxOps: ids.length });
    await free(ids.slice(0, cl0.ops));
    ids = await queued(20_000);
    const cl2 = await measure("pg SELECT bench_claim_for_submit($1, 100000) (same lock, 1 round trip)", (i) => pool.query("SELECT bench_claim_for_submit($1, $2)", [ids[i]!, 100_000]), { concurrency: 64, maxOps: ids.length });
    await free(ids.slice(0, cl2.ops));
    results.push({ group: "claim with cap (64 concurrent)", current: cl1, proposed: cl2 });
    results.push({ group: "claim without cap (64 concurrent)", current: cl0, proposed: cl2 });
  } finally {
    await db.close().catch(() => undefined);
    await pool.query("DROP FUNCTION IF EXISTS bench_claim_for_submit(uuid, int)").catch(() => undefined);
    await pool.end().catch(() => undefined);
  }

  const rows: Row[] = [];
  for (const r of results) {
    rows.push({ section: r.group, metric: "", value: "" });
    const [mine, theirs] = r.labels ?? ["packages/db", "hand-written"];
    for (const [label, m] of [[`${mine}: ${r.current.name}`, r.current], [`${theirs}: ${r.proposed.name}`, r.proposed]] as const) {
      rows.push({ metric: label.slice(0, 80), value: `${fmtInt(m.opsPerS)}/s · ${fmt(m.cpuUsPerOp, 0)} µs CPU · p50 ${fmt(m.p50Ms, 2)} ms` });
    }
  }
  await sleep(10);
  say(`\n${renderTable(rows)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`micro failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
