import { KlingCallbackSchema, KlingTaskSchema } from "@kex/kling";
import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, adminPost, startReceiver, waitFor, type Receiver } from "./helpers";

interface ListedTask {
  task_id: string;
  created_at: number;
  task_info: { parent_video: { id: string } };
}

/** The upstream differences issue 11 and 12 name: ignored external_task_id, shared slots, spellings, shapes, costs. */
describe("sandbox upstream variants", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;
  let receiver: Receiver;

  beforeEach(async () => {
    receiver = await startReceiver();
    sandbox = await startSandbox({ ...FAST });
    client = new SandboxClient(sandbox);
  });
  afterEach(async () => {
    await sandbox.close();
    await receiver.close();
  });

  const hook = (name: string) => `${receiver.url}/hook/${name}`;
  const bodies = (name: string) => receiver.received.filter((r) => r.path === `/hook/${name}`).map((r) => r.body);

  describe("ignoreExternalTaskId (a proxy that drops it)", () => {
    it("does not echo it, cannot find the task by it, does not refuse a duplicate, and leaves it out of callbacks", async () => {
      expect((await adminPost(sandbox, "options", { ignoreExternalTaskId: true })).status).toBe(200);
      const first = await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job-x-1", callback_url: hook("x") });
      expect(first.body.code).toBe(0);
      expect(first.body.data.task_info).toEqual({});
      expect((await client.get("job-x-1")).body.code).toBe(1203);
      // A re-send with the same id is a second, paid task.
      const second = await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job-x-1" });
      expect(second.body.code).toBe(0);
      expect(second.body.data.task_id).not.toBe(first.body.data.task_id);

      const done = await client.waitFinished(first.body.data.task_id);
      expect(done.task_info.external_task_id).toBeUndefined();
      await sandbox.waitForIdle();
      expect(bodies("x").length).toBeGreaterThan(0);
      for (const body of bodies("x")) expect(body.task_info.external_task_id).toBeUndefined();
      // The sandbox still sees the double task the client caused.
      expect(sandbox.stats()).toMatchObject({ tasksCreated: 2, jobsWithMultipleTasks: 1 });
    });

    it("honours it again once switched off", async () => {
      sandbox.setOptions({ ignoreExternalTaskId: true });
      await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job-y-1" });
      sandbox.setOptions({ ignoreExternalTaskId: false });
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job-y-2" });
      expect(created.body.data.task_info).toEqual({ external_task_id: "job-y-2" });
      expect((await client.get("job-y-2")).body.data.task_id).toBe(created.body.data.task_id);
      expect((await client.get("job-y-1")).body.code).toBe(1203);
    });
  });

  describe("the account's task list (to adopt a task without external_task_id)", () => {
    it("lists every task with its source video and creation time, newest first, paged", async () => {
      let now = 1_800_000_000_000;
      sandbox.setOptions({ ignoreExternalTaskId: true, processingDelayMs: 60_000, now: () => now });
      const sources = ["111111111111111111", "222222222222222222", "333333333333333333"];
      const created: string[] = [];
      for (const video_id of sources) {
        created.push((await client.create({ video_id, prompt: "p", external_task_id: `job-${video_id}-1` })).body.data.task_id);
        now += 1000;
      }
      const page1 = await client.list("?pageNum=1&pageSize=2");
      const page2 = await client.list("?pageNum=2&pageSize=2");
      const listed: ListedTask[] = [...page1.body.data, ...page2.body.data];
      for (const task of listed) expect(KlingTaskSchema.safeParse(task).success).toBe(true);
      expect(listed.map((t) => [t.task_id, t.task_info.parent_video.id, t.created_at])).toEqual([
        [created[2], sources[2], 1_800_000_002_000],
        [created[1], sources[1], 1_800_000_001_000],
        [created[0], sources[0], 1_800_000_000_000],
      ]);
      // What an orchestrator does: find the task by source video and creation window.
      const match = listed.filter((t) => t.task_info.parent_video.id === sources[1] && t.created_at >= 1_800_000_000_500);
      expect(match.map((t) => t.task_id)).toEqual([created[1]]);
    });
  });

  describe("otherClientSlots (another client of the same account)", () => {
    it("answers 1303 while we hold fewer than the cap, and follows the knob at run time", async () => {
      sandbox.setOptions({ maxConcurrency: 4, processingDelayMs: 60_000 });
      expect((await adminPost(sandbox, "options", { otherClientSlots: 2 })).status).toBe(200);
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) codes.push((await client.create({ video_id: FRESH_VIDEO, prompt: `${i}` })).body.code);
      expect(codes).toEqual([0, 0, 1303]);
      expect(sandbox.stats()).toMatchObject({ inFlight: 2, peakInFlight: 2, rejectedByCode: { "1303": 1 } });

      // The other client finishes one task: one more slot for us.
      await adminPost(sandbox, "options", { otherClientSlots: 1 });
      expect((await client.create({ video_id: FRESH_VIDEO, prompt: "3" })).body.code).toBe(0);
      expect((await client.create({ video_id: FRESH_VIDEO, prompt: "4" })).body.code).toBe(1303);
      // It takes every slot: nothing for us even with room under our own count.
      await adminPost(sandbox, "options", { otherClientSlots: 4 });
      expect(sandbox.stats().inFlight).toBe(3);
      expect((await client.create({ video_id: FRESH_VIDEO, prompt: "5" })).body.code).toBe(1303);
      expect((await adminPost(sandbox, "options", { otherClientSlots: -1 })).status).toBe(400);
    });
  });

  describe("status spelling, callback shapes and HTTP 200 with a failed task", () => {
    it('spells success "succeeded" in queries, lists and legacy callbacks when asked', async () => {
      await adminPost(sandbox, "options", { statusSpelling: "succeeded" });
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: hook("new") });
      const taskId = created.body.data.task_id as string;
      const done = await waitFor(async () => {
        const data = (await client.get(taskId)).body.data;
        return data.task_status === "succeeded" ? data : undefined;
      });
      expect(done.task_result.videos[0].id).toMatch(/^\d{18}$/);
      expect((await client.list("")).body.data[0].task_status).toBe("succeeded");
      await sandbox.waitForIdle();
      expect(bodies("new").map((b) => b.task_status)).toEqual(["submitted", "processing", "succeeded"]);
    });

    it("keeps the legacy spelling by default", async () => {
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
      expect((await client.waitFinished(created.body.data.task_id)).task_status).toBe("succeed");
    });

    it("sends the 3.x callback shape when asked", async () => {
      sandbox.setOptions({ callbackShape: "v3", unitDeduction: "2.5" });
      const created = await client.create({
        video_id: FRESH_VIDEO,
        prompt: "p",
        external_task_id: "job-v3-1",
        callback_url: hook("v3"),
      });
      const done = await client.waitFinished(created.body.data.task_id);
      await sandbox.waitForIdle();
      const received = bodies("v3");
      expect(received.map((b) => b.status)).toEqual(["submitted", "processing", "succeeded"]);
      for (const body of received) {
        expect(body).toMatchObject({ id: created.body.data.task_id, external_id: "job-v3-1" });
        expect(body.task_id).toBeUndefined();
        expect(body.task_status).toBeUndefined();
      }
      const last = received.at(-1)!;
      expect(last.outputs).toEqual([
        { type: "video", id: done.task_result.videos[0].id, url: done.task_result.videos[0].url, watermark_url: expect.any(String), duration: "9.5" },
      ]);
      expect(last.billing).toEqual([{ type: "unit", amount: "2.5" }]);
      expect(received[0]!.outputs).toEqual([]);
      // The query route keeps the legacy shape.
      expect(done.task_id).toBe(created.body.data.task_id);
    });

    it("failOnCreateRate 1: HTTP 200, code 0, a task that is already failed, holding no slot", async () => {
      sandbox.setOptions({ failOnCreateRate: 1, maxConcurrency: 1 });
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: hook("dead") });
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({ code: 0, message: "SUCCEED" });
      expect(created.body.data).toMatchObject({ task_status: "failed", task_status_msg: "content risk control", final_unit_deduction: "0" });
      const queried = await client.get(created.body.data.task_id);
      expect(queried.status).toBe(200);
      expect(queried.body).toMatchObject({ code: 0, message: "SUCCEED", data: { task_status: "failed" } });
      expect(queried.body.data.task_result).toBeUndefined();
      // The cap is 1 and the failed task holds nothing.
      expect((await client.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.data.task_status).toBe("failed");
      await sandbox.waitForIdle();
      expect(bodies("dead").map((b) => b.task_status)).toEqual(["failed"]);
      expect(sandbox.stats()).toMatchObject({ tasksCreated: 2, inFlight: 0, peakInFlight: 0, tasksByStatus: { failed: 2 } });
    });

    it("answers HTTP 200 with a task failed later, as for any other query", async () => {
      sandbox.setOptions({ failureRate: 1 });
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
      await client.waitFinished(created.body.data.task_id);
      const answer = await client.get(created.body.data.task_id);
      expect([answer.status, answer.body.code, answer.body.message, answer.body.data.task_status]).toEqual([200, 0, "SUCCEED", "failed"]);
    });
  });

  describe("deductions", () => {
    it("carries the configured units (a string) and the balance deduction in queries and callbacks of finished tasks", async () => {
      sandbox.setOptions({ unitDeduction: "3", balanceDeduction: { quota: "0.75", list_price: "1.40" } });
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: hook("cost") });
      expect(created.body.data.final_unit_deduction).toBeUndefined();
      const done = await client.waitFinished(created.body.data.task_id);
      expect(done.final_unit_deduction).toBe("3");
      expect(done.final_balance_deduction).toEqual({ quota: "0.75", list_price: "1.40" });
      await sandbox.waitForIdle();
      const received = bodies("cost");
      for (const body of received) expect(KlingCallbackSchema.safeParse(body).success).toBe(true);
      expect(received.map((b) => b.final_unit_deduction)).toEqual([undefined, undefined, "3"]);
      expect(received.at(-1)!.final_balance_deduction).toEqual({ quota: "0.75", list_price: "1.40" });

      // A task keeps what it was charged when the knob changes later.
      sandbox.setOptions({ unitDeduction: "5", balanceDeduction: null });
      expect((await client.get(created.body.data.task_id)).body.data.final_unit_deduction).toBe("3");
      const next = await client.waitFinished((await client.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.data.task_id);
      expect(next.final_unit_deduction).toBe("5");
      expect(next.final_balance_deduction).toBeUndefined();
    });

    it('charges failed tasks "0" and refuses deductions that are not decimal strings', async () => {
      sandbox.setOptions({ failureRate: 1, unitDeduction: "2" });
      const done = await client.waitFinished((await client.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.data.task_id);
      expect(done.final_unit_deduction).toBe("0");
      for (const patch of [{ unitDeduction: 2 }, { unitDeduction: "-1" }, { balanceDeduction: { quota: "1" } }]) {
        expect((await adminPost(sandbox, "options", patch)).status).toBe(400);
      }
    });
  });
});
