// The ceiling: raw BullMQ on the same Redis, with jobs shaped like ours (same name, payload, job id
// and default options as packages/queue enqueueSubmits), under a prefix of its own, removed afterwards.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { JOB_CATALOG } from "@kex/core";
import { createSubmitQueue, enqueueSubmits, RedisBackend } from "@kex/queue";
import { deleteKeysUnder } from "@kex/testing";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { usedMemory } from "./redis";

export interface BaselineResult {
  jobs: number;
  chunk: number;
  addBulkMs: number;
  addBulkJobsPerS: number;
  /** used_memory delta / waiting jobs right after addBulk (raw BullMQ, for comparison with ours). */
  redisBytesPerWaitingJob: number;
  concurrency: number;
  processMs: number;
  processJobsPerS: number;
  processed: number;
  /** packages/queue enqueueSubmits (our Redis path, whatever options it sets today), same jobs. */
  enqueueSubmitsMs: number;
  enqueueSubmitsJobsPerS: number;
  enqueueSubmitsBytesPerJob: number;
}

export async function runBaseline(args: { redisUrl: string; prefix: string; jobs: number; chunk: number; concurrency: number; log: (line: string) => void }): Promise<BaselineResult> {
  const { submit } = JOB_CATALOG;
  const connection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(submit.queue, { connection, prefix: args.prefix, defaultJobOptions: submit.options });
  let worker: Worker | undefined;
  try {
    await queue.waitUntilReady();
    const ids = Array.from({ length: args.jobs }, () => randomUUID());
    const memBefore = await usedMemory(connection);
    const t0 = performance.now();
    for (let i = 0; i < ids.length; i += args.chunk) {
      await queue.addBulk(ids.slice(i, i + args.chunk).map((jobId) => ({ name: submit.name, data: { jobId }, opts: { jobId } })));
    }
    const addBulkMs = performance.now() - t0;
    const waiting = await queue.getWaitingCount();
    const memAfter = await usedMemory(connection);
    args.log(`    raw addBulk: ${args.jobs} jobs in ${(addBulkMs / 1000).toFixed(2)} s (${waiting} waiting)`);

    let processed = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const t1 = performance.now();
    worker = new Worker(
      submit.queue,
      async () => {
        processed++;
        if (processed >= args.jobs) resolveDone();
      },
      { connection: workerConnection, prefix: args.prefix, concurrency: args.concurrency },
    );
    worker.on("error", () => undefined);
    // Bounded: a no-op processor on loopback takes seconds (and jobs can vanish if someone flushes a shared Redis).
    await Promise.race([done, sleep(Math.max(60_000, args.jobs))]);
    if (processed < args.jobs) args.log(`    (gave up waiting: only ${processed} of ${args.jobs} processed)`);
    const processMs = performance.now() - t1;
    args.log(`    raw no-op worker (concurrency ${args.concurrency}): ${processed} jobs in ${(processMs / 1000).toFixed(2)} s`);
    await worker.close(true);
    worker = undefined;
    await queue.obliterate({ force: true });

    // Our own enqueue path on its own (no HTTP, no Postgres): what POST /v1/batches adds to Redis.
    const oursBackend = new RedisBackend({ url: args.redisUrl, prefix: args.prefix });
    const ours = createSubmitQueue(oursBackend);
    let enqueueSubmitsMs = NaN;
    let enqueueSubmitsBytesPerJob = NaN;
    try {
      const mem0 = await usedMemory(connection);
      const t2 = performance.now();
      await enqueueSubmits(ours, ids);
      enqueueSubmitsMs = performance.now() - t2;
      const queued = await ours.getJobCountByTypes("waiting", "prioritized");
      enqueueSubmitsBytesPerJob = queued > 0 ? ((await usedMemory(connection)) - mem0) / queued : NaN;
      args.log(`    packages/queue enqueueSubmits: ${args.jobs} jobs in ${(enqueueSubmitsMs / 1000).toFixed(2)} s`);
      await ours.obliterate({ force: true });
    } finally {
      await ours.close().catch(() => undefined);
      await oursBackend.close();
    }
    return {
      enqueueSubmitsMs,
      enqueueSubmitsJobsPerS: args.jobs / (enqueueSubmitsMs / 1000),
      enqueueSubmitsBytesPerJob,
      jobs: args.jobs,
      chunk: args.chunk,
      addBulkMs,
      addBulkJobsPerS: args.jobs / (addBulkMs / 1000),
      redisBytesPerWaitingJob: waiting > 0 ? (memAfter - memBefore) / waiting : 0,
      concurrency: args.concurrency,
      processMs,
      processJobsPerS: processed / (processMs / 1000),
      processed,
    };
  } finally {
    await worker?.close(true).catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await deleteKeysUnder(connection, args.prefix);
    connection.disconnect();
    workerConnection.disconnect();
  }
}
