// HTTP load with autocannon (loopback only, fixed duration), with exact latency percentiles.
import autocannon from "autocannon";

export interface LoadResult {
  requests: number;
  /** Responses per second (2xx and others). */
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  connections: number;
  durationS: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Runs autocannon for `seconds` with `connections`; `next()` gives each request its path (and body),
 * e.g. rotating over job ids. Latencies come from the `response` events (float ms), not autocannon's
 * integer-millisecond histogram, so a 1-5 ms p99 is measured exactly.
 */
export async function runLoad(args: {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  next: () => { path: string; body?: string };
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  if (!/^http:\/\/(127\.|localhost|\[::1\])/.test(args.url)) throw new Error(`load only against loopback, not ${args.url}`);
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: args.url,
        connections: args.connections,
        duration: args.seconds,
        timeout: 10,
        headers: args.headers,
        requests: [
          {
            method: args.method,
            setupRequest: (req) => {
              const { path, body } = args.next();
              return { ...req, path, ...(body !== undefined ? { body } : {}) };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
    });
  });
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: latencies.length / result.duration,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    connections: args.connections,
    durationS: result.duration,
  };
}
