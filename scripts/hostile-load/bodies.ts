// The bodies sent at the api: the three hostile kinds as first reported, the same kinds at the most the
// limits let through to validation, and a real full-size batch that must keep working.
import { gzipSync } from "node:zlib";

export interface HostileBody {
  name: string;
  /** Bytes on the wire. */
  body: Buffer;
  /** Bytes after decompression, when compressed. */
  inflated?: number;
  encoding?: "gzip";
}

const MB = 1024 * 1024;

/** `{"items":[{},{},…]}` of about `bytes`. */
function emptyItems(bytes: number): string {
  return `{"items":[${"{},".repeat(Math.floor((bytes - 12) / 3))}{}]}`;
}

/** As reported: 60 MB of `{}` items (21 M elements), the same gzip-compressed (~61 KB), 57 MB of `[[[…`. */
export function reportedBodies(): HostileBody[] {
  const flood = emptyItems(60 * MB);
  return [
    { name: "60 MB of {} items", body: Buffer.from(flood) },
    { name: "60 MB of {} items, gzip", body: gzipSync(flood, { level: 9 }), inflated: flood.length, encoding: "gzip" },
    { name: "57 MB of [[[…", body: Buffer.from("[".repeat(57 * MB)) },
  ];
}

/**
 * Each kind at the most the limits let through to validation: 10,000 `{}` items (the item limit); a
 * gzip bomb inflating to just under the batch body limit, in strings of just under the string limit;
 * 10,000 items nested to the depth limit.
 */
export function atTheLimitBodies(args: { maxItems: number; maxDepth: number; bodyLimitBytes: number; maxStringBytes: number }): HostileBody[] {
  const items = `{"items":[${Array(args.maxItems).fill("{}").join(",")}]}`;
  const longItem = `{"video_id":"1","prompt":"${"x".repeat(args.maxStringBytes - 16)}"}`;
  const bomb = `{"items":[${Array(Math.floor((args.bodyLimitBytes - 1024) / (longItem.length + 1))).fill(longItem).join(",")}]}`;
  const nestedItem = "[".repeat(args.maxDepth - 2) + "]".repeat(args.maxDepth - 2);
  const nested = `{"items":[${Array(args.maxItems).fill(nestedItem).join(",")}]}`;
  return [
    { name: `${args.maxItems} {} items`, body: Buffer.from(items) },
    { name: `gzip inflating to ${(bomb.length / MB).toFixed(0)} MB`, body: gzipSync(bomb, { level: 9 }), inflated: bomb.length, encoding: "gzip" },
    { name: `${args.maxItems} items ${args.maxDepth} deep`, body: Buffer.from(nested) },
  ];
}

/** A real batch: `count` items with long prompts and metadata, about 58 MB for 10,000. */
export function realBatch(count: number): HostileBody {
  const items = Array.from({ length: count }, (_, i) => ({
    video_id: `8${String(i).padStart(17, "0")}`,
    prompt: `${"a slow dolly out over the harbour at dusk, ".repeat(58)}shot ${i}`.slice(0, 2500),
    negative_prompt: "blur, low quality, watermark, ".repeat(40).slice(0, 1200),
    metadata: Object.fromEntries(Array.from({ length: 22 }, (_, k) => [`field_${k}`, `${"v".repeat(90)}${i}`])),
  }));
  return { name: `real batch of ${count} items`, body: Buffer.from(JSON.stringify({ items })) };
}
