import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { childProcessEnv, REPO_ROOT, TEST_PG_ADMIN_URL } from "@kex/testing";

// `npm run demo -- --print-mode` probes for real and prints its one mode line, starting nothing. Nothing
// answers on port 1; the Postgres of the tests stands for "a local Postgres".
const run = promisify(execFile);
const CLOSED = { pg: "postgresql://postgres@127.0.0.1:1/kling_orchestrator", redis: "redis://127.0.0.1:1" };

async function modeLine(env: Record<string, string>, ...flags: string[]): Promise<string> {
  const { stdout } = await run(path.join(REPO_ROOT, "node_modules/.bin/tsx"), ["scripts/demo.ts", "--print-mode", ...flags], {
    cwd: REPO_ROOT,
    env: childProcessEnv({ DATABASE_URL: undefined, REDIS_URL: undefined, QUEUE_BACKEND: undefined, ...env }),
  });
  const line = stdout.split("\n").find((l) => l.startsWith("mode: "));
  if (!line) throw new Error(`no mode line in:\n${stdout}`);
  return line;
}

describe("npm run demo -- --print-mode", () => {
  it("chooses the embedded Postgres and the Postgres queue when nothing answers", async () => {
    expect(await modeLine({ DEMO_LOCAL_DATABASE_URL: CLOSED.pg, DEMO_LOCAL_REDIS_URL: CLOSED.redis })).toBe(
      "mode: embedded Postgres (data in .demo/pg) + Postgres queue (QUEUE_BACKEND=postgres), because no Postgres at 127.0.0.1:1 and no Docker; no Redis at 127.0.0.1:1",
    );
  });

  it("queues on the local Postgres when it answers and Redis does not", async () => {
    const local = new URL(TEST_PG_ADMIN_URL);
    local.pathname = "/kling_orchestrator";
    const line = await modeLine({ DEMO_LOCAL_DATABASE_URL: local.toString(), DEMO_LOCAL_REDIS_URL: CLOSED.redis });
    expect(line).toBe(
      `mode: Postgres at ${local.host} + Postgres queue (QUEUE_BACKEND=postgres), because Postgres answers at ${local.host}; no Redis at 127.0.0.1:1`,
    );
  });

  it("--embedded forces the embedded mode", async () => {
    expect(await modeLine({}, "--embedded")).toMatch(
      /^mode: embedded Postgres \(data in \.demo\/pg\) \+ Postgres queue .*because --embedded$/,
    );
  });
});
