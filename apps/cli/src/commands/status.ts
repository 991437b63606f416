import type { BatchResource, ChainResource, JobResource } from "@kex/contract";
import type { ApiClient } from "../api-client";
import { ApiRequestError, ExitCode, type ExitCodeValue } from "../errors";
import { countsLine, jobFailureLine, labelled, shorten, table } from "../format";
import type { Output } from "../output";

/** Looks the id up as a job, then as a batch, then as a chain; 404 for all is an error (exit 3). */
export async function status(client: ApiClient, id: string, options: { json: boolean }, output: Output): Promise<ExitCodeValue> {
  const job = await orNullOn404(client.getJob(id));
  if (job) {
    output.out(options.json ? JSON.stringify(job, null, 2) : describeJob(job));
    return ExitCode.ok;
  }
  const batch = await orNullOn404(client.getBatch(id));
  if (!batch) {
    const chain = await orNullOn404(client.getChain(id));
    if (!chain) throw new ApiRequestError(`no job, batch or chain with id ${id}`, 404, "not_found");
    output.out(options.json ? JSON.stringify(chain, null, 2) : describeChain(chain));
    return ExitCode.ok;
  }
  if (options.json) {
    output.out(JSON.stringify(batch, null, 2));
    return ExitCode.ok;
  }
  output.out(describeBatch(batch));
  const unsuccessful = batch.counts.failed + batch.counts.canceled;
  if (unsuccessful > 0) {
    const page = await client.listJobs({ batchId: batch.id, status: batch.counts.failed > 0 ? "failed" : "canceled", limit: 5 });
    output.out("");
    for (const j of page.data) output.out(jobFailureLine(j));
    if (unsuccessful > page.data.length) output.out(`… ${unsuccessful - page.data.length} more`);
  }
  return ExitCode.ok;
}

export async function orNullOn404<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof ApiRequestError && err.status === 404) return null;
    throw err;
  }
}

export function describeJob(job: JobResource): string {
  const result = job.result
    ? `${job.result.video_id} ${job.result.url}${job.result.duration != null ? ` (${job.result.duration} s)` : ""}`
    : undefined;
  return labelled([
    ["job", job.id],
    ["status", job.status],
    ["batch", job.batch_id === null ? undefined : `${job.batch_id}${job.batch_index !== null ? ` (item ${job.batch_index})` : ""}`],
    ["video", job.video_id],
    ["prompt", shorten(job.prompt, 100)],
    ["upstream task", job.upstream_task_id ? `${job.upstream_task_id} (${job.upstream_status ?? "?"})` : undefined],
    ["attempts", job.attempts],
    ["result", result],
    ["error", job.error ? `${job.error.code}: ${job.error.message}` : undefined],
    ["created", job.created_at],
    ["submitted", job.submitted_at ?? undefined],
    ["finished", job.finished_at ?? undefined],
  ]);
}

export function describeBatch(batch: BatchResource): string {
  const finished = batch.counts.succeeded + batch.counts.failed + batch.counts.canceled;
  return labelled([
    ["batch", batch.id],
    ["name", batch.name ?? undefined],
    ["metadata", batch.metadata == null ? undefined : shorten(JSON.stringify(batch.metadata), 200)],
    ["progress", `${finished}/${batch.total} finished${batch.done ? " (done)" : ""}`],
    ["counts", countsLine(batch.counts)],
    ["created", batch.created_at],
  ]);
}

export function describeChain(chain: ChainResource): string {
  const head = labelled([
    ["chain", chain.id],
    ["status", chain.status],
    ["video", chain.video_id],
    ["step", `${Math.min(chain.current_step + 1, chain.steps.length)} of ${chain.steps.length}`],
    ["final video", chain.final_video ? `${chain.final_video.video_id} ${chain.final_video.url}` : undefined],
    ["error", chain.error ? `${chain.error.code}: ${chain.error.message}` : undefined],
    ["created", chain.created_at],
  ]);
  const steps = table(
    ["STEP", "STATUS", "JOB", "ATTEMPTS", "PROMPT"],
    chain.steps.map((s) => [String(s.index + 1), s.job?.status ?? "-", s.job?.id ?? "-", String(s.attempts), shorten(s.prompt, 60)]),
  );
  return `${head}\n\n${steps}`;
}
