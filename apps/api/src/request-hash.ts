// The request an Idempotency-Key names, as a hash. Taken where the body is parsed (body-parsing.ts),
// on the event loop for a small body and in the parse worker's thread for a big one, so this module
// imports nothing that thread would not need.
import { createHash } from "node:crypto";
import type { Request, Response } from "express";

/** What is written between two pieces handed to `write`: big enough that a 58 MB body is a thousand calls. */
const PIECE_CHARS = 64 * 1024;

const VALUE = 0;
const LITERAL = 1;

/**
 * Writes `root` as JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same request, in
 * pieces to `write`. Written with a stack of its own, not by recursion: the body's nesting is the
 * caller's, and must never be our call stack's. Two parallel stacks (what is left to write, and
 * whether it is a value or text already decided) instead of an object per entry: a 58 MB batch is
 * written in about a quarter of the time.
 */
export function writeCanonicalJson(root: unknown, write: (piece: string) => void): void {
  const pending: unknown[] = [root];
  const kinds: number[] = [VALUE];
  let out = "";
  while (pending.length > 0) {
    const next = pending.pop();
    if (kinds.pop() === LITERAL) out += next as string;
    else if (next === null || typeof next !== "object") out += JSON.stringify(next) ?? "null";
    else if (Array.isArray(next)) {
      out += "[";
      pending.push("]");
      kinds.push(LITERAL);
      for (let i = next.length - 1; i >= 0; i--) {
        pending.push(next[i]);
        kinds.push(VALUE);
        if (i > 0) {
          pending.push(",");
          kinds.push(LITERAL);
        }
      }
    } else {
      out += "{";
      pending.push("}");
      kinds.push(LITERAL);
      const keys = Object.keys(next).sort();
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        pending.push((next as Record<string, unknown>)[key]);
        kinds.push(VALUE);
        pending.push(`${i > 0 ? "," : ""}${JSON.stringify(key)}:`);
        kinds.push(LITERAL);
      }
    }
    if (out.length >= PIECE_CHARS) {
      write(out);
      out = "";
    }
  }
  write(out);
}

/** `root` as canonical JSON, in one string (see `writeCanonicalJson`). */
export function canonicalJson(root: unknown): string {
  const pieces: string[] = [];
  writeCanonicalJson(root, (piece) => pieces.push(piece));
  return pieces.join("");
}

/**
 * What the hash of a request starts with (method and path), or undefined when the request carries no
 * `Idempotency-Key` to hash it for (only POSTs do). The same whether taken by `jsonBody` or later: both
 * run where `/v1` is mounted.
 */
export function requestHashPrefix(req: Request): string | undefined {
  if (req.method !== "POST" || req.get("idempotency-key") === undefined) return undefined;
  return `${req.method} ${req.baseUrl}${req.path}\n`;
}

/** sha256 of the prefix and the body (undefined when there is none) in canonical JSON, hex. */
export function requestHash(prefix: string, body: unknown): string {
  const hash = createHash("sha256").update(prefix);
  writeCanonicalJson(body ?? null, (piece) => hash.update(piece));
  return hash.digest("hex");
}

/** The hash `jsonBody` took of this request's body, for its Idempotency-Key. */
export function requestHashOf(res: Response): string {
  const hash = res.locals.requestHash as string | undefined;
  if (hash === undefined) throw new Error("jsonBody() must run before idempotency(): it hashes the body where it parses it");
  return hash;
}
