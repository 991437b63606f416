// The ceiling: raw BullMQ on the same store as the apps (Redis, or BullMQ's Postgres backend), with jobs
// shaped like ours (same name, payload, job id and default options as packages/queue enqueueSubmits),
// under a prefix (Redis) or schema (Postgres) of its own, removed afterwards.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { JOB_CATALOG } from "@kex/core";
import { createQueueBackend, createSubmitQueue, enqueueSubmits, queueSchemaName, quoteQueueSchema, type AnyQueue, type AnyWorker, type QueueBackendKind } from "@kex/queue";
import { deleteKeysUnder } from "@kex/testing";
import { createPostgresBackend, Queue, runMigrations, withBackend, Worker, type Processor } from "bullmq";
import { Redis } from "ioredis";
import type { Client } from "pg";
import { schemaBytes } from "./queue-store";
import { usedMemory } from "./redis";

export interface BaselineResult {
  backend: QueueBackendKind;
  jobs: number;
  chunk: number;
  addBulkMs: number;
  addBulkJobsPerS: number;
  /** Store size delta / waiting jobs right after addBulk (raw BullMQ, for comparison with ours). */
  storageBytesPerWaitingJob: number;
  concurrency: number;
  processMs: number;
  processJobsPerS: number;
  processed: number;
  /** packages/queue enqueueSubmits (our path to the queue, whatever options it sets today), same jobs. */
  enqueueSubmitsMs: number;
  enqueueSubmitsJobsPerS: number;
  enqueueSubmitsBytesPerJob: number;
}

/** BullMQ's own classes on one store, without anything of ours. */
interface RawBullmq {
  queue: AnyQueue;
  worker(processor: Processor, concurrency: number): AnyWorker;
  storageBytes(): Promise<number>;
  destroy(): Promise<void>;
}

const PgBullmq = withBackend(createPostgresBackend);

async function openRaw(args: { kind: QueueBackendKind; redisUrl: string; databaseUrl: string; prefix: string; pgPoolMax: number; pg: Client }): Promise<RawBullmq> {
  const { submit } = JOB_CATALOG;
  if (args.kind === "redis") {
    const connection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
    const workerConnection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(submit.queue, { connection, prefix: args.prefix, defaultJobOptions: submit.options });
    await queue.waitUntilReady();
    return {
      queue: queue as unknown as AnyQueue,
      worker: (processor, concurrency) =>
        new Worker(submit.queue, processor, { connection: workerConnection, prefix: args.prefix, concurrency }) as unknown as AnyWorker,
      storageBytes: () => usedMemory(connection),
      async destroy() {
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close().catch(() => undefined);
        await deleteKeysUnder(connection, args.prefix).catch(() => undefined);
        connection.disconnect();
        workerConnection.disconnect();
      },
    };
  }
  // BullMQ's Postgres backend: its migrations in a schema of the raw run's own, one pool per queue or worker.
  const schema = queueSchemaName(args.prefix);
  await runMigrations(args.pg, schema);
  const connection = { connectionString: args.databaseUrl, schema, max: args.pgPoolMax };
  const queue = new PgBullmq.Queue(submit.queue, { connection, defaultJobOptions: submit.options });
  await queue.waitUntilReady();
  return {
    queue: queue as unknown as AnyQueue,
    worker: (processor, concurrency) => new PgBullmq.Worker(submit.queue, processor, { connection, concurrency }) as unknown as AnyWorker,
    storageBytes: () => schemaBytes(args.pg, schema),
    async destroy() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close().catch(() => undefined);
      await args.pg.query(`DROP SCHEMA IF EXISTS ${quoteQueueSchema(args.prefix)} CASCADE`).catch(() => undefined);
    },
  };
}

export async function runBaseline(args: {
  kind: QueueBackendKind;
  redisUrl: string;
  databaseUrl: string;
  /** The bench's own connection to the bench database (migrations, sizes). */
  pg: Client;
  prefix: string;
  jobs: number;
  chunk: number;
  concurrency: number;
  /** Postgres: connections per BullMQ queue or worker (ours use 4). */
  pgPoolMax: number;
  log: (line: string) => void;
}): Promise<BaselineResult> {
  const { submit } = JOB_CATALOG;
  const raw = await openRaw(args);
  const { queue } = raw;
  let worker: AnyWorker | undefined;
  try {
    const ids = Array.from({ length: args.jobs }, () => randomUUID());
    const storeBefore = await raw.storageBytes();
    const t0 = performance.now();
    for (let i = 0; i < ids.length; i += args.chunk) {
      await queue.addBulk(ids.slice(i, i + args.chunk).map((jobId) => ({ name: submit.name, data: { jobId }, opts: { jobId } })));
    }
    const addBulkMs = performance.now() - t0;
    const waiting = await queue.getWaitingCount();
    const storeAfter = await raw.storageBytes();
    args.log(`    raw addBulk: ${args.jobs} jobs in ${(addBulkMs / 1000).toFixed(2)} s (${waiting} waiting)`);

    let processed = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const t1 = performance.now();
    worker = raw.worker(async () => {
      processed++;
      if (processed >= args.jobs) resolveDone();
    }, args.concurrency);
    worker.on("error", () => undefined);
    // Bounded: a no-op processor on loopback takes seconds (and jobs can vanish if someone flushes a shared Redis).
    await Promise.race([done, sleep(Math.max(60_000, args.jobs * 3))]);
    if (processed < args.jobs) args.log(`    (gave up waiting: only ${processed} of ${args.jobs} processed)`);
    const processMs = performance.now() - t1;
    args.log(`    raw no-op worker (concurrency ${args.concurrency}): ${processed} jobs in ${(processMs / 1000).toFixed(2)} s`);
    await worker.close(true);
    worker = undefined;
    await queue.obliterate({ force: true });

    // Our own enqueue path on its own (no HTTP, no jobs table): what POST /v1/batches adds to the queue.
    const oursBackend = await createQueueBackend(
      args.kind === "redis"
        ? { kind: "redis", prefix: args.prefix, redisUrl: args.redisUrl }
        : { kind: "postgres", prefix: args.prefix, databaseUrl: args.databaseUrl, poolMax: args.pgPoolMax },
    );
    const ours = createSubmitQueue(oursBackend);
    let enqueueSubmitsMs = NaN;
    let enqueueSubmitsBytesPerJob = NaN;
    try {
      const before = await raw.storageBytes();
      const t2 = performance.now();
      await enqueueSubmits(ours, ids);
      enqueueSubmitsMs = performance.now() - t2;
      const queued = await ours.getJobCountByTypes("waiting", "prioritized");
      enqueueSubmitsBytesPerJob = queued > 0 ? ((await raw.storageBytes()) - before) / queued : NaN;
      args.log(`    packages/queue enqueueSubmits: ${args.jobs} jobs in ${(enqueueSubmitsMs / 1000).toFixed(2)} s`);
      await ours.obliterate({ force: true });
    } finally {
      await ours.close().catch(() => undefined);
      await oursBackend.close();
    }
    return {
      backend: args.kind,
      enqueueSubmitsMs,
      enqueueSubmitsJobsPerS: args.jobs / (enqueueSubmitsMs / 1000),
      enqueueSubmitsBytesPerJob,
      jobs: args.jobs,
      chunk: args.chunk,
      addBulkMs,
      addBulkJobsPerS: args.jobs / (addBulkMs / 1000),
      storageBytesPerWaitingJob: waiting > 0 ? (storeAfter - storeBefore) / waiting : 0,
      concurrency: args.concurrency,
      processMs,
      processJobsPerS: processed / (processMs / 1000),
      processed,
    };
  } finally {
    await worker?.close(true).catch(() => undefined);
    await raw.destroy();
  }
}
