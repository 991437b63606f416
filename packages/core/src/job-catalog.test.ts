import { JOB_CATALOG, submitBackoffMs } from "./job-catalog";

describe("submit backoff", () => {
  it("doubles from 1 s with up to half of each delay random", () => {
    expect([1, 2, 3, 4].map((n) => submitBackoffMs(n, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((n) => submitBackoffMs(n, () => 0.999999))).toEqual([999, 1999, 3999, 7999]);
  });

  it("keeps each submit's stored options small (they sit in every waiting job's Redis hash)", () => {
    expect(JSON.stringify(JOB_CATALOG.submit.options).length).toBeLessThanOrEqual(40);
  });
});
