import { setTimeout as sleep } from "node:timers/promises";
import { SingleBar } from "cli-progress";
import { JOB_STATUSES, type BatchResource, type StatusCounts } from "@kex/contract";
import { withRetry, type ApiClient } from "./api-client";
import { ExitCode, type ExitCodeValue } from "./errors";
import { emptyCounts, finishedCount, jobFailureLine } from "./format";
import type { Output } from "./output";

export interface WaitOptions {
  /** Pause between two polls of the same batch. */
  intervalMs: number;
  /** Draw the progress bar (on stderr). */
  progress: boolean;
}

export interface BatchesOutcome {
  total: number;
  counts: StatusCounts;
  batches: BatchResource[];
}

/**
 * Polls `GET /v1/batches/:id` for each batch until all are done, showing one bar for all of them with the
 * counts per status added up. Transient errors (network, 5xx) are retried; a 4xx ends the wait (exit 3).
 */
export async function waitForBatches(
  client: ApiClient,
  batchIds: readonly string[],
  options: WaitOptions,
  output: Output,
): Promise<BatchesOutcome> {
  const latest = new Map<string, BatchResource>();
  const fetchAll = async () => {
    for (const id of batchIds) {
      if (latest.get(id)?.done) continue;
      // Patient: an API restart (about a minute of backoff in all) should not end a long wait.
      latest.set(id, await withRetry(() => client.getBatch(id), { attempts: 8 }));
    }
  };
  const sum = () => {
    const counts = emptyCounts();
    let total = 0;
    for (const batch of latest.values()) {
      total += batch.total;
      for (const s of JOB_STATUSES) counts[s] += batch.counts[s] ?? 0;
    }
    return { counts, total };
  };

  await fetchAll();
  let { counts, total } = sum();
  const bar = options.progress
    ? new SingleBar({
        format: ` {bar} {value}/{total} finished | ${JOB_STATUSES.map((s) => `${s} {${s}}`).join(" · ")}`,
        barCompleteChar: "█",
        barIncompleteChar: "░",
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 5000,
        stream: output.stderr,
      })
    : undefined;
  bar?.start(total, finishedCount(counts), counts);
  const stopBar = () => bar?.stop();
  output.onInterrupt(() => {
    stopBar();
    output.err(`\nstopped watching; the jobs go on. Follow them with: kex watch ${batchIds.join(" ")}`);
  });
  try {
    while (![...latest.values()].every((b) => b.done)) {
      await sleep(options.intervalMs);
      await fetchAll();
      ({ counts, total } = sum());
      bar?.setTotal(total);
      bar?.update(finishedCount(counts), counts);
    }
  } finally {
    stopBar();
  }
  return { total, counts, batches: batchIds.map((id) => latest.get(id)!) };
}

/** How many failed/canceled jobs the summary names. */
const FAILURES_SHOWN = 10;

/** Prints the final counts and a few failed jobs; the exit code is 1 when any job failed or was canceled. */
export async function reportOutcome(client: ApiClient, outcome: BatchesOutcome, output: Output): Promise<ExitCodeValue> {
  const { counts, total } = outcome;
  output.out(`succeeded ${counts.succeeded}, failed ${counts.failed}, canceled ${counts.canceled} of ${total}`);
  if (counts.failed + counts.canceled === 0) return ExitCode.ok;
  let shown = 0;
  for (const batch of outcome.batches) {
    for (const status of ["failed", "canceled"] as const) {
      if (batch.counts[status] === 0 || shown >= FAILURES_SHOWN) continue;
      const page = await withRetry(() => client.listJobs({ batchId: batch.id, status, limit: FAILURES_SHOWN - shown }));
      for (const job of page.data) {
        output.out(`  ${jobFailureLine(job)}`);
        shown++;
      }
    }
  }
  const unshown = counts.failed + counts.canceled - shown;
  if (unshown > 0) output.out(`  … and ${unshown} more (kex export <batch-id> --format csv lists every job)`);
  return ExitCode.jobsFailed;
}
