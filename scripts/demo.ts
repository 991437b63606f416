// `npm run demo`: the whole pipeline on this machine. Starts sandbox, api and worker as real processes
// on the local Postgres and Redis, submits a batch of 50 sample extensions, shows their progress until
// all are finished, prints a summary and where to look next.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SingleBar } from "cli-progress";
import { ensureServices, prepareDatabase } from "./lib/infra";
import { freePort, portFree, ROOT, startService, waitHealthy, type Service } from "./lib/services";
import { SAMPLE_PROMPTS } from "./lib/samples";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_orchestrator";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const JOBS = Number(process.env.DEMO_JOBS ?? 50);
const exitWhenDone = process.argv.includes("--exit") || !process.stdout.isTTY;
const STATUSES = ["queued", "submitting", "submitted", "processing", "succeeded", "failed", "canceled"] as const;
type Counts = Record<(typeof STATUSES)[number], number>;

const say = (line: string) => process.stdout.write(`${line}\n`);

const PROMPTS = SAMPLE_PROMPTS;

function sampleItems(n: number) {
  return Array.from({ length: n }, (_, i) => {
    // One job points at a video that does not exist: it fails with upstream's 1203.
    const videoId = i === n - 1 ? "404000000000000042" : `8${String(100_000 + i).padStart(17, "0")}`;
    return {
      video_id: videoId,
      prompt: PROMPTS[i % PROMPTS.length]!,
      ...(i % 3 === 0 ? { negative_prompt: "blurry, low quality" } : {}),
      ...(i % 4 === 0 ? { cfg_scale: 0.6 } : {}),
      metadata: { demo: true, index: i },
    };
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  say("kling-orchestrator demo: sandbox upstream, local Postgres and Redis\n");
  await ensureServices({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, log: say });
  say(`✔ Postgres and Redis reachable`);
  await prepareDatabase(DATABASE_URL);
  say(`✔ database migrated (${new URL(DATABASE_URL).pathname.slice(1)})`);

  const apiToken = process.env.API_TOKEN ?? `demo_${randomBytes(18).toString("base64url")}`;
  const callbackSecret = process.env.CALLBACK_SECRET ?? randomBytes(32).toString("base64url");
  const apiPort = Number(process.env.PORT ?? ((await portFree(3000)) ? 3000 : await freePort()));
  const sandboxPort = (await portFree(4010)) ? 4010 : await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const logDir = path.join(ROOT, ".demo/logs");
  const common = { DATABASE_URL, REDIS_URL, LOG_LEVEL: process.env.LOG_LEVEL ?? "info" };
  const services: Service[] = [];
  const stopAll = async () => {
    await Promise.all(services.map((s) => s.stop("SIGTERM")));
  };
  process.once("SIGINT", () => {
    say("\nstopping…");
    void stopAll().then(() => process.exit(130));
  });

  try {
    const sandbox = startService({
      name: "sandbox",
      app: "sandbox",
      logDir,
      env: {
        SANDBOX_PORT: String(sandboxPort),
        SANDBOX_MAX_CONCURRENCY: "10",
        SANDBOX_PROCESSING_DELAY_MS: "800",
        SANDBOX_COMPLETE_DELAY_MIN_MS: "1500",
        SANDBOX_COMPLETE_DELAY_MAX_MS: "4000",
        SANDBOX_FAILURE_RATE: "0.04",
        // No fixed SANDBOX_SEED: a seeded sandbox replays the same task ids, and this database keeps
        // the jobs of earlier demo runs, whose task ids are unique (as Kling's are).
      },
    });
    services.push(sandbox);
    const api = startService({ name: "api", app: "api", logDir, env: { ...common, PORT: String(apiPort), API_TOKEN: apiToken, CALLBACK_SECRET: callbackSecret } });
    services.push(api);
    const worker = startService({
      name: "worker",
      app: "worker",
      logDir,
      env: {
        ...common,
        KLING_BASE_URL: sandboxUrl,
        KLING_PATH_PREFIX: "/kling",
        KLING_API_KEY: "sandbox-key",
        KLING_MAX_IN_FLIGHT: "10",
        PUBLIC_BASE_URL: apiUrl,
        CALLBACK_SECRET: callbackSecret,
      },
    });
    services.push(worker);
    await Promise.all([waitHealthy(sandbox, `${sandboxUrl}/__sandbox/stats`), waitHealthy(api, `${apiUrl}/readyz`)]);
    say(`✔ sandbox ${sandboxUrl}, api ${apiUrl}, worker started (logs in .demo/logs/)`);

    const headers = { authorization: `Bearer ${apiToken}`, "content-type": "application/json" };
    const created = await fetch(`${apiUrl}/v1/batches`, { method: "POST", headers, body: JSON.stringify({ items: sampleItems(JOBS) }) });
    if (created.status !== 202) throw new Error(`POST /v1/batches answered ${created.status}: ${await created.text()}`);
    const batch = (await created.json()) as { id: string; total: number; jobs: string[] };
    say(`✔ batch ${batch.id}: ${batch.total} extensions submitted\n`);

    const bar = new SingleBar({
      format: " {bar} {value}/{total} finished | queued {queued} · submitting {submitting} · submitted {submitted} · processing {processing} · succeeded {succeeded} · failed {failed}",
      barCompleteChar: "█",
      barIncompleteChar: "░",
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 3000,
    });
    bar.start(batch.total, 0, Object.fromEntries(STATUSES.map((s) => [s, 0])));
    let counts: Counts;
    for (;;) {
      const res = await fetch(`${apiUrl}/v1/batches/${batch.id}`, { headers });
      const body = (await res.json()) as { counts: Counts; done: boolean };
      counts = body.counts;
      bar.update(counts.succeeded + counts.failed + counts.canceled, counts);
      if (body.done) break;
      if (Date.now() - started > 10 * 60_000) throw new Error("the batch did not finish within 10 minutes; see .demo/logs/");
      await sleep(300);
    }
    bar.stop();

    const failed = (await (await fetch(`${apiUrl}/v1/extensions?batch_id=${batch.id}&status=failed`, { headers })).json()) as {
      data: Array<{ id: string; video_id: string; error: { code: string; message: string } }>;
    };
    const sample = (await (await fetch(`${apiUrl}/v1/extensions?batch_id=${batch.id}&status=succeeded&limit=1`, { headers })).json()) as {
      data: Array<Record<string, unknown>>;
    };
    const stats = (await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json()) as { tasksCreated: number; peakInFlight: number; jobsWithMultipleTasks: number };

    say(`\nSummary (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    say(`  succeeded ${counts.succeeded}, failed ${counts.failed}, canceled ${counts.canceled} of ${batch.total}`);
    say(`  upstream tasks created ${stats.tasksCreated}, peak in flight ${stats.peakInFlight} (cap 10), jobs with more than one task ${stats.jobsWithMultipleTasks}`);
    for (const job of failed.data) say(`  failed: ${job.id} (video ${job.video_id}): ${job.error.code}: ${job.error.message}`);
    if (sample.data[0]) {
      const job = sample.data[0];
      say(`\nA finished job (GET /v1/extensions/${job.id}):`);
      say(JSON.stringify({ id: job.id, status: job.status, video_id: job.video_id, upstream_task_id: job.upstream_task_id, result: job.result, submitted_at: job.submitted_at, finished_at: job.finished_at }, null, 2).replace(/^/gm, "  "));
    }
    say("\nWhere to look next:");
    say(`  curl -H 'Authorization: Bearer ${apiToken}' ${apiUrl}/v1/batches/${batch.id}`);
    say(`  curl -H 'Authorization: Bearer ${apiToken}' '${apiUrl}/v1/extensions?batch_id=${batch.id}&limit=5'`);
    say(`  curl -H 'Authorization: Bearer ${apiToken}' ${apiUrl}/v1/extensions/${batch.jobs[0]}/events   # the job's event log`);
    say(`  psql ${DATABASE_URL.replace(/:[^:@/]*@/, "@")} -c 'select status, count(*) from jobs group by 1'`);
    say(`  logs: .demo/logs/{api,worker,sandbox}.log`);

    if (exitWhenDone) {
      say("\n(--exit or no terminal: the stack is stopped now; run `npm run demo` in a terminal to keep it up and explore)");
      await stopAll();
      process.exit(counts.succeeded + counts.failed === batch.total ? 0 : 1);
    }
    say("\nThe stack keeps running for you to explore; press Ctrl-C to stop it.");
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
