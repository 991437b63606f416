// The attacking tenant, in a process of its own so that its work (building and writing 60 MB bodies)
// never delays the other tenant's reads, which the parent times. Sends one set of bodies three at once,
// each again as soon as it is answered, for HOSTILE_ATTACK.ms; prints "ready" once the bodies are built,
// then one JSON line: body name → answers.
import { atTheLimitBodies, reportedBodies, type HostileBody } from "./bodies";
import { send, type Answer } from "./send";

export interface AttackOrder {
  url: string;
  key: string;
  set: "reported" | "at-the-limit";
  ms: number;
  limits: { maxItems: number; maxDepth: number; bodyLimitBytes: number; maxStringBytes: number };
}

async function attack(order: AttackOrder): Promise<Record<string, Answer[]>> {
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
