import { pollSchedule } from "./reconciler-system";

const settings = { reconcileAfterMs: 120_000, reconcileMinAfterMs: 5_000 };
const recent = (tasks: number, finishedByPoll: number, p50Ms: number | null, p90Ms: number | null) => ({ tasks, finishedByPoll, p50Ms, p90Ms });

describe("pollSchedule", () => {
  it("waits RECONCILE_AFTER_MS while too few recent tasks say how long tasks take", () => {
    expect(pollSchedule(recent(0, 0, null, null), settings)).toEqual({ afterMs: 120_000, basis: "default" });
    expect(pollSchedule(recent(9, 0, 20_000, 30_000), settings)).toEqual({ afterMs: 120_000, basis: "default" });
  });

  it("polls a task slower than nine in ten recent ones while callbacks arrive", () => {
    expect(pollSchedule(recent(200, 0, 20_000, 30_000), settings)).toEqual({ afterMs: 30_000, basis: "p90" });
    // A poll now and then finishing a task whose callback was merely late does not count as missing callbacks.
    expect(pollSchedule(recent(200, 9, 20_000, 30_000), settings)).toEqual({ afterMs: 30_000, basis: "p90" });
  });

  it("polls at half the median while callbacks go missing", () => {
    expect(pollSchedule(recent(200, 10, 20_000, 30_000), settings)).toEqual({ afterMs: 10_000, basis: "callbacks_missing" });
    // Every callback lost: durations learnt from polls are late by up to the wait, and shrink run after run.
    expect(pollSchedule(recent(50, 50, 120_000, 120_000), settings).afterMs).toBe(60_000);
  });

  it("stays between RECONCILE_MIN_AFTER_MS and RECONCILE_AFTER_MS", () => {
    expect(pollSchedule(recent(200, 0, 200, 300), settings).afterMs).toBe(5_000);
    expect(pollSchedule(recent(200, 0, 600_000, 900_000), settings).afterMs).toBe(120_000);
    expect(pollSchedule(recent(200, 0, 200, 300), { reconcileAfterMs: 0, reconcileMinAfterMs: 5_000 }).afterMs).toBe(0);
  });
});
