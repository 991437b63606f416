// webhook receiver: duplicate `processing` callbacks for jobs in `processing`.
import { setTimeout as sleep } from "node:timers/promises";
import { callbackToken } from "@kex/core";
import type { BenchRun } from "../lib/bench-run";
import { cpuWindow } from "../lib/cpu";
import { countJobs, diffCounters, pgCounters, prepareProcessingJobs } from "../lib/db";
import { runLoad } from "../lib/load";
import { fmtInt, fmtMs } from "../lib/report";
import { postBatch } from "../lib/requests";
import { cpuMsPer, perJob } from "../lib/results";

export async function webhookPhase(run: BenchRun): Promise<void> {
  const { cfg, results, stack, pg, apiToken, callbackSecret, sources, bodies, timed, notePeaks, say } = run;
  if ((await countJobs(pg)) === 0) await postBatch(stack.apiUrl, apiToken, bodies(Math.min(cfg.batchSize, cfg.webhookJobs))[0]!);
  const prepared = await prepareProcessingJobs(pg, cfg.webhookJobs);
  say(`\n[webhook] POST /webhooks/kling/:jobId?token=… (duplicate 'processing' callbacks) over ${prepared.length} jobs in 'processing', ${cfg.connections} connections, ${cfg.loadSeconds} s`);
  const requests = prepared.map((j) => ({
    path: `/webhooks/kling/${j.id}?token=${callbackToken(callbackSecret, j.id)}`,
    body: JSON.stringify({
      task_id: j.taskId,
      task_status: "processing",
      task_status_msg: "",
      task_info: { external_task_id: `${j.id}-1` },
      created_at: Date.now(),
      updated_at: Date.now(),
    }),
  }));
  let i = 0;
  const next = () => requests[i++ % requests.length]!;
  const headers = { "content-type": "application/json" };
  await runLoad({ url: stack.apiUrl, method: "POST", headers, next, connections: cfg.connections, seconds: 1 });
  await sleep(1100);
  const pg0 = await pgCounters(pg);
  const cpu = await cpuWindow(sources());
  const r = await timed("webhook", () => runLoad({ url: stack.apiUrl, method: "POST", headers, next, connections: cfg.connections, seconds: cfg.loadSeconds }));
  const cpuUsed = await cpu.end();
  await sleep(1100);
  const pgUsed = diffCounters(await pgCounters(pg), pg0);
  results.webhook = { ...r, preparedJobs: prepared.length, pgPerCallback: perJob(pgUsed, r.requests), cpu: cpuUsed, cpuMsPerCallback: cpuMsPer(cpuUsed, r.requests) };
  say(`    ${fmtInt(r.rps)} callbacks/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms${r.non2xx ? `, ${r.non2xx} non-2xx` : ""}; CPU ms per callback ${JSON.stringify(results.webhook.cpuMsPerCallback)}`);
  if (r.non2xx || r.errors) results.errors.push(`webhook: ${r.non2xx} non-2xx, ${r.errors} errors`);
  notePeaks("webhook");
}
