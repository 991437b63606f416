/** Prompts for sample extensions (demo and benchmark). */
export const SAMPLE_PROMPTS = [
  "the camera keeps drifting over the harbour at dusk",
  "she turns around and smiles, wind in her hair",
  "slow dolly out revealing the whole city skyline",
  "the dog runs after the ball into the waves",
  "rain starts falling, neon reflections on the street",
  "the rocket lifts off and disappears into the clouds",
  "time-lapse of clouds rolling over the mountains",
];
