// `npm run test:hostile`: can one tenant's hostile requests stall the api for everyone? Starts an api
// process on loopback (its own database and queue prefix), then, phase by phase, sends hostile batch
// bodies from one tenant, three at once and back to back, then a real 10,000-item batch (58.6 MB) a few
// times one after the other, without and with an Idempotency-Key, while another tenant reads one of its
// jobs at a fixed rate. Prints that tenant's latencies (measured from when each read was due, so a stall
// counts for every read it delayed), every answer the attacker got, the api's peak RSS and CPU time, and
// whether each phase met the target (p99 < 100 ms, no 503, RSS < 1 GB; each real batch accepted within
// 1.5 s). Exits non-zero if the run broke (the api died, a real batch was not accepted) and, with
// HOSTILE_ENFORCE_TARGET=1, if a target was missed.
//
// Knobs (environment): HOSTILE_PHASE_MS (20000 per hostile phase), HOSTILE_PROBE_PER_SEC (50; 0: the other
// tenant does not read, so the api's CPU time is what the attack alone cost),
// HOSTILE_REAL_TIMES (3 real batches per real phase), HOSTILE_PHASES (a comma list of quiet, reported,
// at-the-limit, real, real-idempotent; all by default), HOSTILE_ENFORCE_TARGET, DATABASE_URL (its server
// gets a kex_hostile_<random> database, dropped at the end), REDIS_URL.
import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, startApiUnderTest, type ApiUnderTest } from "./api-process";
import type { AttackOrder } from "./attacker";
import { atTheLimitBodies, realBatch, reportedBodies, type HostileBody } from "./bodies";
import { agent, send, type Answer } from "./send";

const PHASE_MS = Number(process.env.HOSTILE_PHASE_MS ?? 20_000);
const PROBE_PER_SEC = Number(process.env.HOSTILE_PROBE_PER_SEC ?? 50);
const REAL_TIMES = Number(process.env.HOSTILE_REAL_TIMES ?? 3);
const ENFORCE_TARGET = process.env.HOSTILE_ENFORCE_TARGET === "1";
const ALL_PHASES = ["quiet", "reported", "at-the-limit", "real", "real-idempotent"] as const;
const PHASES = new Set((process.env.HOSTILE_PHASES ?? ALL_PHASES.join(",")).split(",").map((p) => p.trim()));
const SERVER_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/** The whole run, set-up included, may not take longer than this. */
const RUN_TIMEOUT_MS = 6 * PHASE_MS + 240_000;

/** `realBatchMs`: each real batch, from its first byte sent to its 202 (on an idle machine of 2 cores). */
const TARGET = { p99Ms: 100, rssBytes: 1024 ** 3, realBatchMs: 1500 };
/** The api's limits the "at the limit" bodies are built against (apps/api/src/body-parsing.ts, BODY_LIMIT default). */
const LIMITS = { maxItems: 10_000, maxDepth: 64, bodyLimitBytes: 64 * 1024 * 1024, maxStringBytes: 64 * 1024 };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface PhaseResult {
  name: string;
  /** A real batch's phase: its sends are held to `TARGET.realBatchMs` and must all be accepted. */
  real?: boolean;
  probes: Answer[];
  attacks: Map<string, Answer[]>;
  maxRss: number;
  /** CPU time the api used during the phase: a figure that, unlike latencies, does not depend on what else runs on the machine. */
  cpuSeconds: number;
  /** The part of it its event loop used. */
  mainThreadCpuSeconds: number;
}

/** An attack under way: `ready` once it is about to send, `done` with every answer it got. */
interface Attack {
  ready: Promise<void>;
  done: Promise<Map<string, Answer[]>>;
}

/** Reads `jobId` as the victim at a fixed rate from when `attack` is ready until it is done, sampling the api's RSS. */
async function phase(api: ApiUnderTest, name: string, victim: { key: string; jobId: string }, attack: Attack): Promise<PhaseResult> {
  await attack.ready;
  const cpuBefore = api.cpuSeconds();
  const mainBefore = api.mainThreadCpuSeconds();
  let stop = false;
  let maxRss = api.rssBytes();
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, api.rssBytes())), 100);
  const probes: Promise<Answer>[] = [];
  const probing = (async () => {
    if (!(PROBE_PER_SEC > 0)) return;
    const interval = 1000 / PROBE_PER_SEC;
    const start = performance.now();
    for (let i = 0; !stop; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      probes.push(send(api, { method: "GET", path: `/v1/extensions/${victim.jobId}`, key: victim.key, timeoutMs: 60_000 }).then((a) => ({ status: a.status, ms: performance.now() - due })));
    }
  })();
  const attacks = await attack.done;
  stop = true;
  await probing;
  const answers = await Promise.all(probes);
  clearInterval(sampler);
  return {
    name,
    probes: answers,
    attacks,
    maxRss: Math.max(maxRss, api.rssBytes()),
    cpuSeconds: api.cpuSeconds() - cpuBefore,
    mainThreadCpuSeconds: api.mainThreadCpuSeconds() - mainBefore,
  };
}

/** The attacking tenant in its own process (attacker.ts). */
function attackFromChild(order: AttackOrder): Attack {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "attacker.ts")], {
    cwd: ROOT,
    env: { ...process.env, HOSTILE_ATTACK: JSON.stringify(order) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.startsWith("ready\n")) markReady();
  });
  const done = new Promise<Map<string, Answer[]>>((resolve, reject) => {
    child.once("exit", (code) => {
      markReady();
      const last = output.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last.startsWith("{")) return reject(new Error(`the attacker process ended with code ${code}`));
      resolve(new Map(Object.entries(JSON.parse(last) as Record<string, Answer[]>)));
    });
  });
  return { ready, done };
}

/** No attack: the other tenant alone, for `ms`. */
const idle = (ms: number): Attack => ({ ready: Promise.resolve(), done: sleep(ms).then(() => new Map()) });

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const counts = (answers: Answer[]) =>
  Object.entries(answers.reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {}))
    .map(([status, n]) => `${n}×${status === "0" ? "no answer" : status}`)
    .join(" ");

function report(result: PhaseResult, bodies: HostileBody[]): string[] {
  const ms = result.probes.map((a) => a.ms).sort((a, b) => a - b);
  const lines = [
    `== ${result.name}`,
    ms.length === 0
      ? "  other tenant: not reading (HOSTILE_PROBE_PER_SEC=0): the api's CPU is the attack's alone"
      : `  other tenant's GET /v1/extensions/:id: ${ms.length} reads, p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ${percentile(ms, 100).toFixed(1)} ms; answers ${counts(result.probes)}`,
  ];
  for (const body of bodies) {
    const answers = result.attacks.get(body.name) ?? [];
    const mean = answers.reduce((s, a) => s + a.ms, 0) / Math.max(1, answers.length);
    const size = body.inflated ? `${mb(body.body.length)} on the wire, ${mb(body.inflated)} inflated` : mb(body.body.length);
    const each = result.real ? `${answers.map((a) => a.ms.toFixed(0)).join(", ")} ms` : `${mean.toFixed(0)} ms each on average`;
    lines.push(`  ${result.real ? "client" : "attacker"}: ${body.name} (${size}): ${answers.length} sent, answers ${counts(answers) || "none"}, ${each}`);
  }
  lines.push(`  api peak RSS: ${mb(result.maxRss)}; api CPU time: ${result.cpuSeconds.toFixed(1)} s, of which its event loop ${result.mainThreadCpuSeconds.toFixed(1)} s`);
  return lines;
}

function misses(result: PhaseResult): string[] {
  const ms = result.probes.map((a) => a.ms).sort((a, b) => a - b);
  const all = [...result.probes, ...[...result.attacks.values()].flat()];
  const out: string[] = [];
  if (ms.length === 0) out.push(`${result.name}: the other tenant did not read (HOSTILE_PROBE_PER_SEC=0), so its latency was not measured`);
  else if (!(percentile(ms, 99) < TARGET.p99Ms)) out.push(`${result.name}: p99 ${percentile(ms, 99).toFixed(1)} ms is not under ${TARGET.p99Ms} ms`);
  if (all.some((a) => a.status === 503)) out.push(`${result.name}: ${all.filter((a) => a.status === 503).length} answers were 503`);
  if (result.probes.some((a) => a.status !== 200)) out.push(`${result.name}: the other tenant got ${counts(result.probes.filter((a) => a.status !== 200))}`);
  if (!(result.maxRss < TARGET.rssBytes)) out.push(`${result.name}: api RSS reached ${mb(result.maxRss)}`);
  if (result.real) {
    const sent = [...result.attacks.values()].flat();
    const slow = sent.filter((a) => !(a.ms <= TARGET.realBatchMs));
    if (slow.length > 0) out.push(`${result.name}: ${slow.length} of ${sent.length} real batches took over ${TARGET.realBatchMs} ms (${slow.map((a) => a.ms.toFixed(0)).join(", ")} ms)`);
  }
  return out;
}

async function json(api: ApiUnderTest, method: string, path: string, key: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Closed on a timeout too, so no api process or database is left behind. */
let running: ApiUnderTest | undefined;

async function main(): Promise<number> {
  console.log(`hostile load: ${PHASE_MS / 1000} s per phase, the other tenant reads ${PROBE_PER_SEC} times a second`);
  // Built here for their names and sizes in the report; the attacker process builds its own.
  const reported = reportedBodies();
  const atTheLimit = atTheLimitBodies(LIMITS);
  const real = realBatch(LIMITS.maxItems);
  const api = await startApiUnderTest({ serverUrl: SERVER_URL, redisUrl: REDIS_URL });
  running = api;
  try {
    const tenant = async (name: string) => ((await json(api, "POST", "/v1/tenants", api.apiToken, { name })).api_key as { key: string }).key;
    const attackerKey = await tenant("attacker");
    const victimKey = await tenant("victim");
    const job = await json(api, "POST", "/v1/extensions", victimKey, { video_id: "812345678901234567", prompt: "the victim's job" });
    const victim = { key: victimKey, jobId: String(job.id) };

    const order = (set: AttackOrder["set"], extra: Partial<AttackOrder> = {}): AttackOrder => ({ url: api.url, key: attackerKey, set, ms: PHASE_MS, limits: LIMITS, ...extra });
    const results: Array<{ result: PhaseResult; bodies: HostileBody[]; target: boolean }> = [];
    if (PHASES.has("quiet")) results.push({ result: await phase(api, "quiet (no attack)", victim, idle(5000)), bodies: [], target: false });
    if (PHASES.has("reported")) {
      results.push({ result: await phase(api, "the reported bodies, three at once", victim, attackFromChild(order("reported"))), bodies: reported, target: true });
    }
    if (PHASES.has("at-the-limit")) {
      results.push({ result: await phase(api, "the same kinds at the limits, three at once", victim, attackFromChild(order("at-the-limit"))), bodies: atTheLimit, target: true });
    }
    for (const [name, idempotencyKey] of [["real", false], ["real-idempotent", true]] as const) {
      if (!PHASES.has(name)) continue;
      const title = `a real batch, ${REAL_TIMES} times one after the other${idempotencyKey ? ", each with an Idempotency-Key" : ""}`;
      const result = await phase(api, title, victim, attackFromChild(order("real", { realTimes: REAL_TIMES, idempotencyKey })));
      results.push({ result: { ...result, real: true }, bodies: [real], target: true });
    }

    for (const line of results.flatMap(({ result, bodies }) => report(result, bodies))) console.log(line);
    const missed = results.filter((r) => r.target).flatMap((r) => misses(r.result));
    console.log(missed.length === 0 ? `target met: p99 under ${TARGET.p99Ms} ms, no 503, RSS under 1 GB, each real batch within ${TARGET.realBatchMs} ms` : `TARGET MISSED:\n  ${missed.join("\n  ")}`);
    const refused = results.filter((r) => r.result.real).flatMap((r) => [...r.result.attacks.values()].flat()).filter((a) => a.status !== 202);
    if (refused.length > 0) {
      console.log(`BROKEN: a real batch was answered ${counts(refused)}, not 202`);
      return 1;
    }
    return missed.length > 0 && ENFORCE_TARGET ? 1 : 0;
  } finally {
    agent.destroy();
    await api.close();
  }
}

const timeout = setTimeout(() => {
  console.error(`hostile load: no result after ${RUN_TIMEOUT_MS / 1000} s`);
  void (running?.close() ?? Promise.resolve()).finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
timeout.unref();
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`hostile load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
