import { chance, mulberry32, randomDigits, randomInt } from "./random";

describe("seeded randomness", () => {
  it("replays the same sequence for the same seed and differs for another", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const seqA = Array.from({ length: 5 }, () => a());
    const seqB = Array.from({ length: 5 }, () => b());
    const seqC = Array.from({ length: 5 }, () => c());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });

  it("is roughly uniform", () => {
    const random = mulberry32(7);
    let below = 0;
    for (let i = 0; i < 10_000; i++) if (random() < 0.3) below++;
    expect(below).toBeGreaterThan(2700);
    expect(below).toBeLessThan(3300);
  });

  it("chance honours 0 and 1 without drawing", () => {
    let draws = 0;
    const counting = () => {
      draws++;
      return 0.5;
    };
    expect(chance(counting, 0)).toBe(false);
    expect(chance(counting, 1)).toBe(true);
    expect(draws).toBe(0);
    expect(chance(counting, 0.6)).toBe(true);
    expect(chance(counting, 0.4)).toBe(false);
    expect(draws).toBe(2);
  });

  it("makes ids of the requested length without a leading zero, and ints within bounds", () => {
    const random = mulberry32(1);
    for (let i = 0; i < 200; i++) {
      expect(randomDigits(random, 18)).toMatch(/^[1-9]\d{17}$/);
      const n = randomInt(random, 3, 5);
      expect(n >= 3 && n <= 5).toBe(true);
    }
    expect(randomInt(random, 4, 4)).toBe(4);
  });
});
