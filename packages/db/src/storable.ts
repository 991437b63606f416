/**
 * Text from outside that must be kept rather than refused (upstream's callbacks and answers), made
 * storable. Postgres `text` and `jsonb` cannot hold U+0000, and `jsonb` refuses a lone UTF-16
 * surrogate (which `JSON.stringify` writes as `\ud800`); pg would silently turn a lone surrogate in a
 * text parameter into U+FFFD anyway. The rule, the same for every column and every event payload:
 * each U+0000 and each unpaired surrogate becomes U+FFFD (the replacement character), and nothing
 * else changes.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this matches
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export const REPLACEMENT_CHARACTER = "\ufffd";

export function storableText(text: string): string {
  return text.replace(UNSTORABLE, REPLACEMENT_CHARACTER);
}

/**
 * How deep an event payload is kept. Upstream's task objects are four levels deep; what lies deeper
 * than this in a payload is something we never read, and is replaced by `TRUNCATED`.
 */
export const PAYLOAD_MAX_DEPTH = 32;
export const TRUNCATED = `[dropped: nested deeper than ${PAYLOAD_MAX_DEPTH} levels]`;

interface Pending {
  value: unknown;
  depth: number;
  put: (value: unknown) => void;
}

/**
 * A copy of a JSON value that Postgres `jsonb` can hold: every string (keys too) through
 * `storableText`, every object or array deeper than `PAYLOAD_MAX_DEPTH` replaced by `TRUNCATED`.
 * Iterative, never recursive on the value's depth: a sender chooses that depth (a 64 KB body nests
 * 32,000 levels), and neither this copy nor the `JSON.stringify` of its result may overflow the stack.
 * Values `JSON.stringify` would drop or convert (undefined, functions, `toJSON`) are left to it.
 */
export function storableJson(value: unknown): unknown {
  let root: unknown;
  const pending: Pending[] = [{ value, depth: 1, put: (v) => (root = v) }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { depth, put } = next;
    let current = next.value;
    if (current !== null && typeof current === "object" && typeof (current as { toJSON?: unknown }).toJSON === "function") {
      current = (current as { toJSON: () => unknown }).toJSON();
    }
    if (typeof current === "string") put(storableText(current));
    else if (current === null || typeof current !== "object") put(current);
    else if (depth > PAYLOAD_MAX_DEPTH) put(TRUNCATED);
    else if (Array.isArray(current)) {
      const copy: unknown[] = new Array<unknown>(current.length).fill(null);
      put(copy);
      current.forEach((item, i) => pending.push({ value: item, depth: depth + 1, put: (v) => (copy[i] = v) }));
    } else {
      const copy: Record<string, unknown> = {};
      put(copy);
      for (const [key, item] of Object.entries(current)) {
        // defineProperty, not assignment: a member named `__proto__` stays a member.
        const own = (v: unknown) => Object.defineProperty(copy, storableText(key), { value: v, enumerable: true, writable: true, configurable: true });
        own(null);
        pending.push({ value: item, depth: depth + 1, put: own });
      }
    }
  }
  return root;
}
