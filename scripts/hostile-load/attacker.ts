// The attacking tenant, in a process of its own so that its work (building and writing 60 MB bodies)
// never delays the other tenant's reads, which the parent times. Sends one set of hostile bodies three at
// once, each again as soon as it is answered, for HOSTILE_ATTACK.ms; or the real batch `realTimes` times,
// one after the other (with a fresh Idempotency-Key each time when `idempotencyKey`). Prints "ready" once
// the bodies are built, then one JSON line: body name → answers.
import { randomUUID } from "node:crypto";
import { atTheLimitBodies, realBatch, reportedBodies, type HostileBody } from "./bodies";
import { send, type Answer } from "./send";

export interface AttackOrder {
  url: string;
  key: string;
  set: "reported" | "at-the-limit" | "real";
  ms: number;
  limits: { maxItems: number; maxDepth: number; bodyLimitBytes: number; maxStringBytes: number };
  /** For the real batch: how many times, one after the other, and whether with an Idempotency-Key. */
  realTimes?: number;
  idempotencyKey?: boolean;
}

/** The real batch, `times` times one after the other: a client's ingest, not an attack. */
async function ingest(order: AttackOrder): Promise<Record<string, Answer[]>> {
  const body = realBatch(order.limits.maxItems);
  process.stdout.write("ready\n");
  const answers: Answer[] = [];
  for (let i = 0; i < (order.realTimes ?? 1); i++) {
    const headers: Record<string, string> = order.idempotencyKey ? { "Idempotency-Key": randomUUID() } : {};
    answers.push(await send(order, { method: "POST", path: "/v1/batches", key: order.key, body, headers }));
  }
  return { [body.name]: answers };
}

async function attack(order: AttackOrder): Promise<Record<string, Answer[]>> {
  if (order.set === "real") return ingest(order);
  const bodies: HostileBody[] = order.set === "reported" ? reportedBodies() : atTheLimitBodies(order.limits);
  process.stdout.write("ready\n");
  const until = performance.now() + order.ms;
  const answers: Record<string, Answer[]> = Object.fromEntries(bodies.map((b) => [b.name, []]));
  await Promise.all(
    bodies.map(async (body) => {
      while (performance.now() < until) answers[body.name]!.push(await send(order, { method: "POST", path: "/v1/batches", key: order.key, body }));
    }),
  );
  return answers;
}

attack(JSON.parse(process.env.HOSTILE_ATTACK ?? "{}") as AttackOrder).then(
  (answers) => process.stdout.write(`${JSON.stringify(answers)}\n`),
  (err: unknown) => {
    process.stderr.write(`attacker: ${String(err)}\n`);
    process.exit(1);
  },
);
