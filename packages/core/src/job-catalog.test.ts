import { JOB_CATALOG, submitBackoffMs } from "./job-catalog";

describe("submit backoff", () => {
  it("doubles from 1 s with up to half of each delay random, and never waits more than 30 s", () => {
    expect([1, 2, 3, 4].map((n) => submitBackoffMs(n, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => submitBackoffMs(n, () => 0.999999))).toEqual([999, 1999, 3999, 7999]);
    expect([6, 7, 8, 20].map((n) => submitBackoffMs(n, () => 0.999999))).toEqual([29_999, 29_999, 29_999, 29_999]);
    expect(submitBackoffMs(7, () => 0)).toBe(15_000);
  });

  it("keeps each submit's stored options small (they sit in every waiting job's Redis hash)", () => {
    expect(JSON.stringify(JOB_CATALOG.submit.options).length).toBeLessThanOrEqual(40);
  });
});
