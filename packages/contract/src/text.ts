import { z } from "zod";

/**
 * Text a client sends, checked for what cannot be stored as sent: Postgres holds no NUL character in a
 * text or jsonb value, and a lone UTF-16 surrogate (a JSON `\ud800` escape without its pair) is no
 * character at all: a text column would store U+FFFD in its place, a jsonb one refuses it. Every string
 * field of every request is a `text()`, and metadata is walked by `findJsonProblem`, so the single,
 * batch and chain paths refuse exactly the same strings, with the same rule.
 */

/** `details[].rule` of a string that cannot be stored. */
export type TextRule = "no_nul" | "lone_surrogate";

export interface TextProblem {
  rule: TextRule;
  message: string;
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one (no `u` flag:
// with it the regex would see pairs as one code point and never match a half of one).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `value` cannot be stored as sent, or undefined when it can. */
export function textProblem(value: string): TextProblem | undefined {
  if (value.includes("\u0000")) return { rule: "no_nul", message: "must not contain the NUL character (\\u0000)" };
  if (LONE_SURROGATE.test(value)) {
    return {
      rule: "lone_surrogate",
      message: "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff without its pair): it is not a character",
    };
  }
  return undefined;
}

/**
 * A zod issue whose `rule` the error body shows in place of zod's own code (see `toValidationDetails`).
 * `continue: false` stops the checks after it, so one bad string is one problem, not two.
 */
export const ruleIssue = (rule: string, message: string, path: PropertyKey[] = []) =>
  ({ code: "custom", message, path, params: { rule }, continue: false }) as const;

/** A client string: the length bounds first, then `textProblem`. */
export function text(bounds: { min?: number; max?: number } = {}): z.ZodString {
  let schema = z.string();
  if (bounds.min !== undefined) schema = schema.min(bounds.min);
  if (bounds.max !== undefined) schema = schema.max(bounds.max);
  return schema.superRefine((value, ctx) => {
    const problem = textProblem(value);
    if (problem) ctx.addIssue(ruleIssue(problem.rule, problem.message));
  });
}

export interface JsonProblem {
  path: Array<string | number>;
  rule: TextRule | "too_deep" | "not_finite";
  message: string;
}

/**
 * The first value inside a JSON value that cannot be stored as sent: a key or string `textProblem`
 * refuses, a number JSON cannot hold (`1e400` parses to Infinity, which would be stored as null), or an
 * object or array nested deeper than `maxDepth` (the value itself is level 1). Walked with a stack of
 * its own: the depth is the caller's, so it must never be the depth of our call stack.
 */
export function findJsonProblem(root: unknown, maxDepth: number): JsonProblem | undefined {
  const pending: Array<{ value: unknown; path: Array<string | number>; depth: number }> = [{ value: root, path: [], depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path, depth } = next;
    if (typeof value === "string") {
      const problem = textProblem(value);
      if (problem) return { path, ...problem };
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) return { path, rule: "not_finite", message: "must be a finite number (JSON has no Infinity or NaN)" };
    } else if (value !== null && typeof value === "object") {
      if (depth > maxDepth) return { path, rule: "too_deep", message: `nested deeper than ${maxDepth} levels` };
      if (Array.isArray(value)) {
        value.forEach((item, index) => pending.push({ value: item, path: [...path, index], depth: depth + 1 }));
        continue;
      }
      for (const [key, item] of Object.entries(value)) {
        const problem = textProblem(key);
        if (problem) return { path: [...path, key], rule: problem.rule, message: `a key ${problem.message}` };
        pending.push({ value: item, path: [...path, key], depth: depth + 1 });
      }
    }
  }
  return undefined;
}
