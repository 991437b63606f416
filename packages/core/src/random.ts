/** A seedable source of uniform numbers in [0, 1), so a fault scenario replays identically from its seed. */
export type Random = () => number;

/** mulberry32: tiny, fast, good enough for fault injection and ids (not for anything secret). */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** True with probability `rate` (0 never draws a number, so a zero knob does not shift the sequence). */
export function chance(random: Random, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return random() < rate;
}

/** Integer in [min, max], both inclusive. */
export function randomInt(random: Random, min: number, max: number): number {
  if (max <= min) return min;
  return min + Math.floor(random() * (max - min + 1));
}

/** A numeric string of `length` digits without a leading zero, like Kling's task and video ids. */
export function randomDigits(random: Random, length: number): string {
  let out = String(randomInt(random, 1, 9));
  while (out.length < length) out += String(randomInt(random, 0, 9));
  return out;
}
