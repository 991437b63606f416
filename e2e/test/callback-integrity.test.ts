import { callbackToken } from "@kex/core";
import { getJobEvents } from "@kex/db";
import { createKlingClient } from "@kex/kling";
import { waitFor } from "@kex/testing";
import { STACK_API_TOKEN, STACK_CALLBACK_SECRET, startStack, type Stack } from "../src/stack";

/**
 * A callback with a valid token but another task's id, arriving while the job is still queued (a
 * leaked callback URL, a confused proxy). Once it bound its task to the job, the job's real task later
 * ran and was paid for, every real callback was dropped as a task mismatch, and the reconciler failed
 * the job `upstream_task_missing`. It must instead be an event and nothing more.
 */

let stack: Stack;
beforeAll(async () => {
  // No worker yet: the job stays queued until the forged callback has been answered. The reconciler
  // runs often and soon, so a job following the forged task would be failed as missing within the test.
  stack = await startStack({
    sandbox: { processingDelayMs: 10, completeDelayMinMs: 50, completeDelayMaxMs: 100 },
    worker: { RECONCILE_INTERVAL_MS: "200", RECONCILE_AFTER_MS: "0" },
    workers: 0,
  });
});
afterAll(() => stack.close());

const auth = { authorization: `Bearer ${STACK_API_TOKEN}`, "content-type": "application/json" };

it("a forged callback for a queued job is only an event: the job's real task still runs and the job succeeds with its result", async () => {
  const created = await fetch(`${stack.api.url}/v1/extensions`, { method: "POST", headers: auth, body: JSON.stringify({ video_id: "612345678901234567", prompt: "waves" }) });
  expect(created.status).toBe(202);
  const { id, status } = (await created.json()) as { id: string; status: string };
  expect(status).toBe("queued");

  const forgedTask = "999999999999999999";
  const forged = await fetch(`${stack.api.url}/webhooks/kling/${id}?token=${encodeURIComponent(callbackToken(STACK_CALLBACK_SECRET, id))}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ task_id: forgedTask, task_status: "succeed", task_result: { videos: [{ id: "666", url: "https://forged.example/v.mp4", duration: "5" }] } }),
  });
  expect(forged.status).toBe(200);
  expect(await forged.json()).toMatchObject({ ok: true, changed: false, status: "queued" });

  await stack.addWorker();
  const job = await waitFor(
    async () => {
      const res = await fetch(`${stack.api.url}/v1/extensions/${id}`, { headers: auth });
      const body = (await res.json()) as { status: string; error: unknown; result: { video_id: string; url: string } | null };
      return ["succeeded", "failed", "canceled"].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `job ${id} to finish` },
  );
  expect(job).toMatchObject({ status: "succeeded", error: null });

  // The result is the real task's, as upstream has it under this job's external id.
  const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
  const kling = createKlingClient({ baseUrl: stack.sandbox.url, pathPrefix: "/kling", auth: { mode: "static", apiKey: "sandbox-key" }, timeoutMs: 5000 });
  const real = await kling.getTask(row.externalTaskId!);
  if (!real.ok) throw new Error(`upstream does not know ${row.externalTaskId}`);
  expect(row.upstreamTaskId).toBe(real.data.task_id);
  expect(row.upstreamTaskId).not.toBe(forgedTask);
  expect(job.result).toMatchObject({ video_id: real.data.task_result!.videos[0]!.id, url: real.data.task_result!.videos[0]!.url });
  expect(stack.sandbox.stats()).toMatchObject({ tasksCreated: 1, jobsWithMultipleTasks: 0 });

  // The forged callback stays visible in the job's events.
  const events = await getJobEvents(stack.api.db, id);
  const forgedEvent = events.find((e) => e.source === "webhook" && (e.payload as { task_id?: string } | null)?.task_id === forgedTask);
  expect(forgedEvent).toMatchObject({ type: "upstream_succeed", fromStatus: "queued", toStatus: null });
  expect(forgedEvent?.detail).toMatch(/not bound/);
});
