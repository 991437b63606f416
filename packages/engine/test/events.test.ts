import type { Job } from "@kex/db";
import { CANCELED_CODE, TASK_FAILED_CODE } from "@kex/contract";
import { decisionInput, eventColumns, eventLogType } from "../src";

const now = new Date("2030-01-01T00:00:00Z");
const job = (over: Partial<Job> = {}): Job =>
  ({ id: "j", status: "submitting", upstreamTaskId: null, upstreamStatus: null, submittedAt: null, finishedAt: null, ...over }) as Job;

describe("what each event writes", () => {
  it("a callback's report: task id, upstream status forwards only, result or failure reason, accept time", () => {
    const succeed = { task_id: "t1", task_status: "succeed" as const, task_result: { videos: [{ id: "v", url: "https://cdn/v.mp4", duration: "5.1" }] } };
    expect(eventColumns(job({ status: "processing" }), "succeeded", { type: "upstream_status", task: succeed }, now)).toEqual({
      upstreamTaskId: "t1",
      upstreamStatus: "succeed",
      submittedAt: now,
      resultVideoId: "v",
      resultUrl: "https://cdn/v.mp4",
      resultDuration: 5.1,
    });
    expect(eventColumns(job({ status: "processing", upstreamTaskId: "t1", upstreamStatus: "processing", submittedAt: now }), "failed", { type: "upstream_status", task: { task_id: "t1", task_status: "failed" } }, now)).toEqual({
      upstreamStatus: "failed",
      errorCode: TASK_FAILED_CODE,
      errorMessage: "upstream task failed without a reason",
    });
    // A stale report changes no status and moves the upstream status nowhere backwards.
    expect(eventColumns(job({ status: "processing", upstreamTaskId: "t1", upstreamStatus: "processing" }), null, { type: "upstream_status", task: { task_id: "t1", task_status: "submitted" } }, now)).toEqual({});
  });

  it("a create answer for a job canceled meanwhile still records the task (it holds a slot upstream)", () => {
    const task = { task_id: "t9", task_status: "submitted" as const };
    expect(eventColumns(job({ status: "canceled" }), null, { type: "upstream_accepted", task }, now)).toEqual({ upstreamTaskId: "t9", upstreamStatus: "submitted" });
    expect(eventColumns(job({ status: "canceled", upstreamTaskId: "t9" }), null, { type: "upstream_accepted", task }, now)).toEqual({});
    expect(eventColumns(job(), "submitted", { type: "upstream_accepted", task: { ...task, task_status: "processing" } }, now)).toMatchObject({ upstreamStatus: "submitted", submittedAt: now });
  });

  it("rejections, deadlines and cancels write their error only when they change the job", () => {
    const error = { code: "1301", message: "bad video" };
    expect(eventColumns(job(), "failed", { type: "submit_rejected", error }, now)).toEqual({ errorCode: "1301", errorMessage: "bad video" });
    expect(eventColumns(job(), null, { type: "deadline_exceeded", error }, now)).toEqual({});
    expect(eventColumns(job(), "canceled", { type: "cancel_requested" }, now)).toEqual({ errorCode: CANCELED_CODE, errorMessage: "canceled by request" });
  });

  it("the state machine sees the upstream status; the event log names it", () => {
    const event = { type: "upstream_status" as const, task: { task_id: "t", task_status: "processing" as const } };
    expect(decisionInput(event)).toEqual({ type: "upstream_status", status: "processing" });
    expect(eventLogType(event)).toBe("upstream_processing");
    expect(decisionInput({ type: "cancel_requested" })).toEqual({ type: "cancel_requested" });
  });
});
