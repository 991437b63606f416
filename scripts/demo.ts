// `npm run demo`: the whole pipeline on this machine. Starts sandbox, api and worker as real processes,
// submits a batch of 50 sample extensions, shows their progress until all are finished, prints a
// summary and where to look next. Postgres and the queue backend: see resolveDemoServices (one line
// says which and why); with nothing installed but Node it runs on an embedded Postgres in .demo/pg.
//
// Flags: --exit (stop after the summary), --embedded (the embedded Postgres and the Postgres queue
// even when servers answer), --clean (delete the embedded Postgres's data first), --print-mode (print
// the mode line and exit). DEMO_LOCAL_DATABASE_URL / DEMO_LOCAL_REDIS_URL: where Postgres and Redis
// are looked for when DATABASE_URL / REDIS_URL are not set.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SingleBar } from "cli-progress";
import { prepareDatabase, resolveDemoServices, type DemoServices } from "./lib/infra";
import { freePort, portFree, ROOT, startService, waitHealthy, type Service } from "./lib/services";
import { SAMPLE_PROMPTS } from "./lib/samples";

const LOCAL = {
  databaseUrl: process.env.DEMO_LOCAL_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_orchestrator",
  redisUrl: process.env.DEMO_LOCAL_REDIS_URL ?? "redis://127.0.0.1:6379",
};
const ENV = { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL, QUEUE_BACKEND: process.env.QUEUE_BACKEND };
const JOBS = Number(process.env.DEMO_JOBS ?? 50);
const flag = (name: string) => process.argv.includes(`--${name}`);
const exitWhenDone = flag("exit") || !process.stdout.isTTY;
const DEMO_DIR = path.join(ROOT, ".demo");
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
  say("kling-orchestrator demo: sandbox upstream, Postgres, a queue\n");
  const logDir = path.join(DEMO_DIR, "logs");
  const infra: DemoServices = await resolveDemoServices({
    env: Object.fromEntries(Object.entries(ENV).filter(([, v]) => v !== undefined && v !== "")),
    local: LOCAL,
    embedded: flag("embedded"),
    clean: flag("clean"),
    embeddedDataDir: path.join(DEMO_DIR, "pg"),
    logDir,
    databaseName: new URL(LOCAL.databaseUrl).pathname.slice(1) || "kling_orchestrator",
    printOnly: flag("print-mode"),
    log: say,
  });
  if (flag("print-mode")) return;
  const services: Service[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      await Promise.all(services.map((s) => s.stop("SIGTERM")));
      await infra.stop();
    })());
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => {
      say("\nstopping…");
      void stopAll().finally(() => process.exit(code));
    });
  }
  const DATABASE_URL = infra.databaseUrl;

  try {
    await prepareDatabase(DATABASE_URL);
    say(`✔ database migrated (${new URL(DATABASE_URL).pathname.slice(1)})`);

    const apiToken = process.env.API_TOKEN ?? `demo_${randomBytes(18).toString("base64url")}`;
    const callbackSecret = process.env.CALLBACK_SECRET ?? randomBytes(32).toString("base64url");
    const apiPort = Number(process.env.PORT ?? ((await portFree(3000)) ? 3000 : await freePort()));
    const sandboxPort = (await portFree(4010)) ? 4010 : await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const common = {
      DATABASE_URL,
      QUEUE_BACKEND: infra.queueBackend,
      ...(infra.redisUrl ? { REDIS_URL: infra.redisUrl } : {}),
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
    };
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
    const api = startService({
      name: "api",
      app: "api",
      logDir,
      env: { ...common, PORT: String(apiPort), API_TOKEN: apiToken, CALLBACK_SECRET: callbackSecret },
    });
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
      format:
        " {bar} {value}/{total} finished | queued {queued} · submitting {submitting} · submitted {submitted} · processing {processing} · succeeded {succeeded} · failed {failed}",
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
    const stats = (await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json()) as {
      tasksCreated: number;
      peakInFlight: number;
      jobsWithMultipleTasks: number;
    };

    say(`\nSummary (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    say(`  succeeded ${counts.succeeded}, failed ${counts.failed}, canceled ${counts.canceled} of ${batch.total}`);
    say(
      `  upstream tasks created ${stats.tasksCreated}, peak in flight ${stats.peakInFlight} (cap 10), jobs with more than one task ${stats.jobsWithMultipleTasks}`,
    );
    for (const job of failed.data) say(`  failed: ${job.id} (video ${job.video_id}): ${job.error.code}: ${job.error.message}`);
    if (sample.data[0]) {
      const job = sample.data[0];
      say(`\nA finished job (GET /v1/extensions/${job.id}):`);
      say(
        JSON.stringify(
          {
            id: job.id,
            status: job.status,
            video_id: job.video_id,
            upstream_task_id: job.upstream_task_id,
            result: job.result,
            submitted_at: job.submitted_at,
            finished_at: job.finished_at,
          },
          null,
          2,
        ).replace(/^/gm, "  "),
      );
    }
    say("\nWhere to look next:");
    say(`  curl -H 'Authorization: Bearer ${apiToken}' ${apiUrl}/v1/batches/${batch.id}`);
    say(`  curl -H 'Authorization: Bearer ${apiToken}' '${apiUrl}/v1/extensions?batch_id=${batch.id}&limit=5'`);
    say(`  curl -H 'Authorization: Bearer ${apiToken}' ${apiUrl}/v1/extensions/${batch.jobs[0]}/events   # the job's event log`);
    // The embedded cluster's password is the fixed, loopback-only "postgres": shown so the command works.
    say(
      `  psql ${infra.embedded ? DATABASE_URL : DATABASE_URL.replace(/:[^:@/]*@/, "@")} -c 'select status, count(*) from jobs group by 1'`,
    );
    if (infra.embedded) say(`  postgres log: .demo/logs/postgres.log (data in .demo/pg: kept for the next run; --clean deletes it)`);
    say(`  logs: .demo/logs/{api,worker,sandbox}.log`);

    if (exitWhenDone) {
      say("\n(--exit or no terminal: the stack is stopped now; run `npm run demo` in a terminal to keep it up and explore)");
      await stopAll();
      process.exit(counts.succeeded + counts.failed === batch.total ? 0 : 1);
    }
    say(`\nThe stack keeps running for you to explore; press Ctrl-C to stop it${infra.embedded ? " (and the embedded Postgres)" : ""}.`);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
