import { emptyCounts } from "./format";
import { formatDuration, renderProgressLine, type ProgressState } from "./progress-line";

const midRun: ProgressState = {
  counts: { ...emptyCounts(), queued: 4200, submitting: 10, submitted: 40, processing: 60, succeeded: 5630, failed: 57, canceled: 3 },
  total: 10_000,
  elapsedMs: 754_000,
  ratePerSec: 7.5,
};

describe("renderProgressLine", () => {
  it.each([40, 80, 120])("fits %i columns (one short of the width, so the terminal never wraps it)", (width) => {
    for (const state of [midRun, { ...midRun, unreachableForMs: 3000 }, { ...midRun, ratePerSec: undefined }]) {
      const line = renderProgressLine(state, width);
      expect(line.length).toBeLessThan(width);
      expect(line.length).toBeGreaterThan(width / 2);
    }
  });

  it("shows succeeded and failed first, at every width", () => {
    for (const width of [40, 80, 120, 200]) {
      const line = renderProgressLine(midRun, width);
      expect(line).toMatch(/^(?:[█░]+ )?succeeded 5630 · failed 57 · /);
    }
  });

  it("adds finished/total, elapsed time, ETA and rate as room allows", () => {
    expect(renderProgressLine(midRun, 40)).toBe("succeeded 5630 · failed 57 · 5690/10000");
    expect(renderProgressLine(midRun, 80)).toBe("succeeded 5630 · failed 57 · canceled 3 · 5690/10000 (56%) · 12m34s · ETA 9m35s");
    const wide = renderProgressLine(midRun, 120);
    expect(wide).toContain("12m34s");
    expect(wide).toContain("7.5/s");
    expect(wide).toContain("ETA 9m35s"); // 4310 left at 7.5 a second
    expect(wide).toContain("processing 60");
  });

  it("puts 'API unreachable, retrying…' first when the API does not answer, even at 40 columns", () => {
    const down = { ...midRun, unreachableForMs: 3000 };
    expect(renderProgressLine(down, 120)).toMatch(/^API unreachable, retrying… \(3s\) · succeeded 5630 · failed 57 · /);
    expect(renderProgressLine(down, 80)).toMatch(/^API unreachable, retrying… \(3s\) · succeeded 5630 · failed 57/);
    expect(renderProgressLine(down, 40)).toMatch(/^API unreachable · ok 5630 · fail 57$/);
  });

  it("draws a bar in front when the terminal is wide enough for everything", () => {
    const line = renderProgressLine(midRun, 200);
    expect(line).toMatch(/^█{17}░{13} succeeded/); // 56.9 % of 30 columns
    expect(line).toContain("queued 4210");
    expect(line.length).toBeLessThan(200);
  });

  it("has no ETA before a rate is known, and none when everything finished", () => {
    expect(renderProgressLine({ ...midRun, ratePerSec: undefined }, 200)).not.toContain("ETA");
    const done = { ...midRun, counts: { ...emptyCounts(), succeeded: 9990, failed: 10 } };
    expect(renderProgressLine(done, 200)).not.toContain("ETA");
    expect(renderProgressLine(done, 200)).toContain("10000/10000 (100%)");
  });

  it("formats durations", () => {
    expect([0, 45_000, 185_000, 7_380_000].map(formatDuration)).toEqual(["0s", "45s", "3m05s", "2h03m"]);
  });
});
