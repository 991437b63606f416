import { countInFlight, getJobEvents } from "@kex/db";
import { waitFor } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };

describe("cancel against a running pipeline", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ sandbox: { processingDelayMs: 20, completeDelayMinMs: 1500, completeDelayMaxMs: 1500, maxConcurrency: 0 }, workers: 0 });
  });
  afterAll(() => stack.close());

  it("a job canceled before submission is never sent upstream", async () => {
    const job = (await request(stack.api.url).post("/v1/extensions").set(auth).send({ video_id: "410000000000000001", prompt: "never" })).body;
    expect((await request(stack.api.url).post(`/v1/extensions/${job.id}/cancel`).set(auth)).status).toBe(200);
    await stack.addWorker();
    // Give the worker time to take the (still enqueued) submit and drop it.
    await waitFor(async () => ((await stack.workers[0]!.worker.isRunning()) ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.sandbox.stats().createRequests).toBe(0);
    expect((await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).status).toBe("canceled");
  });

  it("a job canceled while upstream runs it stays canceled, keeps its slot until upstream finishes, and records the late result", async () => {
    const job = (await request(stack.api.url).post("/v1/extensions").set(auth).send({ video_id: "410000000000000002", prompt: "late" })).body;
    await waitFor(async () => {
      const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
      return row.status === "processing" ? row : undefined;
    });
    const canceled = await request(stack.api.url).post(`/v1/extensions/${job.id}/cancel`).set(auth);
    expect(canceled.body.status).toBe("canceled");
    expect(await countInFlight(stack.api.db)).toBe(1);

    await waitFor(async () => ((await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).upstreamStatus === "succeed" ? true : undefined), { timeoutMs: 10_000 });
    const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.status).toBe("canceled");
    expect(row.resultVideoId).toBeNull();
    expect(await countInFlight(stack.api.db)).toBe(0);
    const late = (await getJobEvents(stack.api.db, job.id)).find((e) => e.type === "upstream_succeed");
    expect(late).toMatchObject({ source: "webhook", fromStatus: "canceled", toStatus: null, detail: "terminal" });
    expect(late?.payload).toMatchObject({ task_status: "succeed", task_result: { videos: [expect.objectContaining({ duration: "9.5" })] } });
  });
});
