import { BoundedJsonParser } from "../apps/api/src/bounded-json-parser";
import { realBatch, atTheLimitBodies } from "../scripts/hostile-load/bodies";
import { gunzipSync } from "node:zlib";
const L = { maxBytes: 64 * 1024 * 1024, maxDepth: 64, maxMembers: 10000, maxValues: 1_000_000, maxStringBytes: 65536 };
const bodies = [realBatch(10000), ...atTheLimitBodies({ maxItems: 10000, maxDepth: 64, bodyLimitBytes: 64 * 1024 * 1024, maxStringBytes: 65536 })];
for (const b of bodies) {
  const data = b.encoding ? gunzipSync(b.body) : b.body;
  for (let r = 0; r < 3; r++) {
    const p = new BoundedJsonParser(L);
    const t = performance.now();
    let max = 0;
    for (let o = 0; o < data.length; o += 65536) { const t1 = performance.now(); p.write(data.subarray(o, o + 65536)); max = Math.max(max, performance.now() - t1); }
    const ts = performance.now() - t; const t2 = performance.now();
    const buf = p.finish()?.reduce((n, s) => n + s.length, 0);
    console.log(b.name, "scan", ts.toFixed(1), "finish", (performance.now() - t2).toFixed(1), "ms, max chunk", max.toFixed(2), "values", p.values, buf);
  }
}
