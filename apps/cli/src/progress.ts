import { setTimeout as sleep } from "node:timers/promises";
import { JOB_STATUSES, type BatchResource, type StatusCounts } from "@kex/contract";
import { withRetry, type ApiClient } from "./api-client";
import { ApiRequestError, ExitCode, type ExitCodeValue } from "./errors";
import { emptyCounts, finishedCount, jobFailureLine } from "./format";
import type { Output, TerminalStream } from "./output";
import { formatDuration, renderProgressLine } from "./progress-line";
import { lineOf } from "./source-lines";

export interface WaitOptions {
  /** Pause between two polls of the same batch. */
  intervalMs: number;
  /** Show progress (on stderr): one line redrawn on a terminal, a line every few seconds otherwise. */
  progress: boolean;
  /** How long the API may stay unreachable before giving up (exit 3, with the command that resumes). */
  giveUpAfterMs: number;
}

export interface BatchesOutcome {
  total: number;
  counts: StatusCounts;
  batches: BatchResource[];
}

/** When stderr is not a terminal, a progress line at most this often (and when the API goes away or comes back). */
const PLAIN_LINE_EVERY_MS = 5000;
/** The rate is measured over this much recent time. */
const RATE_WINDOW_MS = 60_000;

/** Draws the progress line: redrawn in place on a terminal, printed now and then otherwise. */
class ProgressView {
  private lastPlainAt = 0;
  private drawn = false;

  constructor(
    private readonly stream: TerminalStream,
    private readonly enabled: boolean,
  ) {}

  show(line: (width: number) => string, urgent = false): void {
    if (!this.enabled) return;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line(this.stream.columns ?? 80)}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (!urgent && now - this.lastPlainAt < PLAIN_LINE_EVERY_MS) return;
    this.lastPlainAt = now;
    this.stream.write(`${line(Infinity)}\n`);
  }

  /** Ends the redrawn line, so what follows starts on a line of its own. */
  done(): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
  }
}

/**
 * Polls `GET /v1/batches/:id` for each batch until all are done, showing one line for all of them with the
 * counts per status added up. When the API cannot be reached the line says so at once and polling goes
 * on; after `giveUpAfterMs` without an answer it gives up (exit 3) and prints the command that resumes.
 * A 4xx ends the wait (exit 3).
 */
export async function waitForBatches(
  client: ApiClient,
  batchIds: readonly string[],
  options: WaitOptions,
  output: Output,
): Promise<BatchesOutcome> {
  const started = Date.now();
  const resume = `kex watch ${batchIds.join(" ")}`;
  const latest = new Map<string, BatchResource>();
  const samples: Array<{ at: number; finished: number }> = [];
  let unreachableSince: number | undefined;
  const view = new ProgressView(output.stderr, options.progress);

  const sum = () => {
    const counts = emptyCounts();
    let total = 0;
    for (const batch of latest.values()) {
      total += batch.total;
      for (const s of JOB_STATUSES) counts[s] += batch.counts[s] ?? 0;
    }
    return { counts, total };
  };
  const rate = (): number | undefined => {
    const first = samples[0];
    const last = samples[samples.length - 1];
    if (!first || !last || last.at - first.at < 2000 || last.finished === first.finished) return undefined;
    return ((last.finished - first.finished) * 1000) / (last.at - first.at);
  };
  const draw = (urgent = false) => {
    const { counts, total } = sum();
    view.show(
      (width) =>
        renderProgressLine(
          {
            counts,
            total,
            elapsedMs: Date.now() - started,
            ratePerSec: rate(),
            unreachableForMs: unreachableSince === undefined ? undefined : Date.now() - unreachableSince,
          },
          width,
        ),
      urgent,
    );
  };
  /** One round of polls; false when the API could not be reached. */
  const poll = async (): Promise<boolean> => {
    try {
      for (const id of batchIds) {
        if (latest.get(id)?.done) continue;
        // A 5xx or 429 is asked again at once a few times; an API that is down is handled by the caller.
        latest.set(id, await withRetry(() => client.getBatch(id), { attempts: 3, baseDelayMs: 300 }));
      }
    } catch (err) {
      if (err instanceof ApiRequestError && err.retryable) return false;
      throw err;
    }
    const now = Date.now();
    samples.push({ at: now, finished: finishedCount(sum().counts) });
    while (samples.length > 2 && samples[0]!.at < now - RATE_WINDOW_MS) samples.shift();
    return true;
  };

  output.onInterrupt(() => {
    view.done();
    output.err(`stopped watching; the jobs go on. Follow them with: ${resume}`);
  });
  try {
    for (;;) {
      const answered = await poll();
      if (answered) {
        if (unreachableSince !== undefined) {
          unreachableSince = undefined;
          if (!output.stderr.isTTY && options.progress) output.err("API reachable again");
        }
        draw();
        if (latest.size === batchIds.length && [...latest.values()].every((b) => b.done)) break;
      } else {
        const first = unreachableSince === undefined;
        unreachableSince ??= Date.now();
        const downFor = Date.now() - unreachableSince;
        if (downFor >= options.giveUpAfterMs) {
          view.done();
          throw new ApiRequestError(
            `gave up: the API at ${client.baseUrl} did not answer for ${formatDuration(downFor)}. The jobs go on without kex; resume with: ${resume}`,
            undefined,
            "unreachable",
          );
        }
        if (first && (!options.progress || !output.stderr.isTTY)) output.err("API unreachable, retrying…");
        else draw(first);
      }
      await sleep(unreachableSince === undefined ? options.intervalMs : Math.min(Math.max(options.intervalMs, 1000), 5000));
    }
  } finally {
    view.done();
  }
  const { counts, total } = sum();
  return { total, counts, batches: batchIds.map((id) => latest.get(id)!) };
}

/** How many failed/canceled jobs the summary names. */
const FAILURES_SHOWN = 10;

/**
 * Prints the final counts, a few failed jobs with their input line, and the command that exports every
 * result; the exit code is 1 when any job failed or was canceled.
 */
export async function reportOutcome(client: ApiClient, outcome: BatchesOutcome, output: Output): Promise<ExitCodeValue> {
  const { counts, total } = outcome;
  const ids = outcome.batches.map((b) => b.id).join(" ");
  output.out(`succeeded ${counts.succeeded}, failed ${counts.failed}, canceled ${counts.canceled} of ${total}`);
  if (counts.failed + counts.canceled === 0) {
    output.out(`results: kex export ${ids}`);
    return ExitCode.ok;
  }
  let shown = 0;
  for (const batch of outcome.batches) {
    for (const status of ["failed", "canceled"] as const) {
      if (batch.counts[status] === 0 || shown >= FAILURES_SHOWN) continue;
      const page = await withRetry(() => client.listJobs({ batchId: batch.id, status, limit: FAILURES_SHOWN - shown }));
      const jobs = [...page.data].sort((a, b) => (a.batch_index ?? 0) - (b.batch_index ?? 0));
      for (const job of jobs) {
        const line = lineOf(batch, job.batch_index);
        output.out(`  ${line !== null ? `line ${line}: ` : ""}${jobFailureLine(job)}`);
        shown++;
      }
    }
  }
  const unshown = counts.failed + counts.canceled - shown;
  if (unshown > 0) output.out(`  … and ${unshown} more`);
  output.out(`results, with the error of each job and its input line: kex export ${ids}`);
  return ExitCode.jobsFailed;
}
