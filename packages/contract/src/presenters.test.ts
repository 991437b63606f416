import type { z } from "zod";
import {
  toApiKeyResource,
  toBatchResource,
  toChainResource,
  toDeliveryResource,
  toJobEventResource,
  toJobResource,
  toTenantResource,
} from "./presenters";
import {
  ApiKeyResourceSchema,
  BatchResourceSchema,
  ChainResourceSchema,
  DeliveryResourceSchema,
  JobEventResourceSchema,
  JobResourceSchema,
  TenantResourceSchema,
} from "./resources";
import type { ChainJobRow, JobRow } from "./rows";

/** Parsing strips unknown keys at every level: equal after parsing means the schema describes every field. */
function expectDescribedBy(schema: z.ZodType, value: unknown): void {
  expect(schema.parse(value)).toEqual(value);
}

const at = new Date("2025-01-02T03:04:05.678Z");
const later = new Date("2025-01-02T03:09:05.678Z");

const queued: JobRow = {
  id: "6f1c2b7e-0a4d-4b8e-9c3f-2d5e6f7a8b9c",
  batchId: null,
  account: "default",
  batchIndex: null,
  status: "queued",
  videoId: "815336423632572487",
  prompt: "the camera pulls back",
  negativePrompt: null,
  cfgScale: null,
  callbackUrl: null,
  metadata: null,
  upstreamTaskId: null,
  upstreamStatus: null,
  attempts: 0,
  resultVideoId: null,
  resultUrl: null,
  resultDuration: null,
  errorCode: null,
  errorMessage: null,
  createdAt: at,
  updatedAt: at,
  submittedAt: null,
  finishedAt: null,
  finalUnitDeduction: null,
  finalBalanceQuota: null,
  finalBalanceListPrice: null,
};

const succeeded: JobRow = {
  ...queued,
  status: "succeeded",
  batchId: "0d7c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
  batchIndex: 4,
  negativePrompt: "blur",
  cfgScale: 0.5,
  callbackUrl: "https://client.example/hook",
  metadata: { sku: 42 },
  upstreamTaskId: "700000000000000001",
  upstreamStatus: "succeed",
  attempts: 1,
  resultVideoId: "900000000000000001",
  resultUrl: "https://cdn.example/v.mp4",
  resultDuration: 9.5,
  submittedAt: at,
  finishedAt: later,
  updatedAt: later,
  finalUnitDeduction: "2.5",
  finalBalanceQuota: "0.75",
  finalBalanceListPrice: "1.40",
};

describe("toJobResource", () => {
  it("presents a queued job and a finished one, each fully described by the schema", () => {
    expectDescribedBy(JobResourceSchema, toJobResource(queued));
    const done = toJobResource(succeeded);
    expectDescribedBy(JobResourceSchema, done);
    expect(toJobResource(queued)).toMatchObject({ final_unit_deduction: null, final_balance_deduction: null });
    expect(done).toMatchObject({
      final_unit_deduction: "2.5",
      final_balance_deduction: { quota: "0.75", list_price: "1.40" },
      batch_id: succeeded.batchId,
      metadata: { sku: 42 },
      result: { video_id: "900000000000000001", url: "https://cdn.example/v.mp4", duration: 9.5 },
      error: null,
      finished_at: later.toISOString(),
    });
  });

  it("shows an error only with a code, and a result only with both its video id and URL", () => {
    const failed = toJobResource({ ...queued, status: "failed", errorCode: "task_failed", errorMessage: null, resultVideoId: "1" });
    expect(failed).toMatchObject({ error: { code: "task_failed", message: "" }, result: null });
  });
});

describe("the other presenters", () => {
  it("job event: the bigint id as a string", () => {
    const event = toJobEventResource({
      id: 12n,
      at,
      source: "webhook",
      type: "upstream_status",
      fromStatus: "submitted",
      toStatus: "processing",
      detail: null,
      payload: { a: 1 },
    });
    expectDescribedBy(JobEventResourceSchema, event);
    expect(event.id).toBe("12");
  });

  it("batch: done once every job is final", () => {
    const batch = { id: queued.id, total: 3, callbackUrl: null, name: "night shots", metadata: { source_lines: "2-4" }, createdAt: at };
    const counts = { queued: 0, submitting: 0, submitted: 0, processing: 1, succeeded: 1, failed: 1, canceled: 0 };
    expectDescribedBy(BatchResourceSchema, toBatchResource(batch, counts));
    expect(toBatchResource(batch, counts)).toMatchObject({ done: false, name: "night shots", metadata: { source_lines: "2-4" } });
    expect(toBatchResource(batch, { ...counts, processing: 0, canceled: 1 }).done).toBe(true);
  });

  it("tenant and API key", () => {
    expectDescribedBy(TenantResourceSchema, toTenantResource({ id: queued.id, name: "acme", createdAt: at }));
    const key = { id: queued.id, name: null, prefix: "abcd1234", tenantId: queued.id, createdAt: at, revokedAt: later, lastUsedAt: null };
    expectDescribedBy(ApiKeyResourceSchema, toApiKeyResource(key));
  });

  it("delivery: `next_attempt_at` only while pending", () => {
    const delivery = {
      id: queued.id,
      eventType: "extension.succeeded",
      jobId: queued.id,
      batchId: null,
      url: "https://client.example/hook",
      status: "pending",
      attempts: 1,
      nextAttemptAt: later,
      deliveredAt: null,
      lastError: "HTTP 500",
      createdAt: at,
      attemptLog: [{ attempt: 1, at, statusCode: 500, latencyMs: 12, error: "HTTP 500" }],
    };
    const pending = toDeliveryResource(delivery);
    expectDescribedBy(DeliveryResourceSchema, pending);
    expect(pending.next_attempt_at).toBe(later.toISOString());
    expect(toDeliveryResource({ ...delivery, status: "delivered", deliveredAt: later }).next_attempt_at).toBeNull();
  });
});

describe("toChainResource", () => {
  const chain = {
    id: queued.id,
    status: "running",
    videoId: "815336423632572487",
    callbackUrl: null,
    account: "default",
    currentStep: 1,
    steps: [{ prompt: "first" }, { prompt: "second", negative_prompt: "blur", cfg_scale: 0.5 }],
    errorCode: null,
    errorMessage: null,
    createdAt: at,
    updatedAt: later,
  };
  const step = (index: number, row: JobRow, id: string): ChainJobRow => ({ ...row, id, stepIndex: index });
  const first = step(0, succeeded, "11111111-1111-4111-8111-111111111111");
  const retried = step(1, { ...queued, status: "failed", errorCode: "task_failed" }, "22222222-2222-4222-8222-222222222222");
  const latest = step(1, succeeded, "33333333-3333-4333-8333-333333333333");

  it("gives each step its latest job and how many it had; no final video while running", () => {
    const view = toChainResource(chain, [first, retried, latest]);
    expectDescribedBy(ChainResourceSchema, view);
    expect(view.steps.map((s) => [s.index, s.job?.id, s.attempts])).toEqual([
      [0, first.id, 1],
      [1, latest.id, 2],
    ]);
    expect(view.steps[1]).toMatchObject({ prompt: "second", negative_prompt: "blur", cfg_scale: 0.5 });
    expect(view.final_video).toBeNull();
  });

  it("shows the last step's result once succeeded, and the error once failed", () => {
    expect(toChainResource({ ...chain, status: "succeeded" }, [first, latest]).final_video).toEqual(toJobResource(latest).result);
    const failed = toChainResource({ ...chain, status: "failed", errorCode: "video_too_long", errorMessage: "too long" }, [first]);
    expect(failed).toMatchObject({ status: "failed", error: { code: "video_too_long", message: "too long" }, final_video: null });
    expect(failed.steps[1]).toMatchObject({ job: null, attempts: 0 });
  });
});
