import type { BatchCreate, ValidationDetail } from "@kex/contract";
import { checkDestination, systemResolveAll, urlHostname, type DestinationCheck, type ResolveAll } from "@kex/core";
import { ApiError } from "./errors";

/** A callback_url of a request, with the field it came from (`callback_url`, `items.3.callback_url`). */
export interface CallbackUrlField {
  field: string;
  url: string;
}

/** Throws a 400 (`validation_failed`, rule `ssrf_blocked` per field) when a callback_url points somewhere internal. */
export type CallbackUrlGuard = (fields: readonly CallbackUrlField[]) => Promise<void>;

export interface CallbackUrlGuardOptions {
  /** ALLOW_PRIVATE_WEBHOOK_URLS: accept everything (tests, local demos). */
  allowPrivate: boolean;
  resolve?: ResolveAll;
  /** Longest wait for one name (default 2000 ms); a slower or failed lookup is accepted, see below. */
  timeoutMs?: number;
}

/** Distinct hosts resolved at once for one request. */
const LOOKUP_CONCURRENCY = 32;

/**
 * The submission-time SSRF check: every distinct host of the request is resolved once; a host that
 * is, or resolves to, a loopback/private/link-local/metadata address refuses the request. A name
 * that does not resolve (yet) is accepted: the worker checks again at connect time, before sending
 * anything, so this check only has to refuse what is already known to be internal.
 */
export function callbackUrlGuard(options: CallbackUrlGuardOptions): CallbackUrlGuard {
  const resolve = options.resolve ?? systemResolveAll;
  return async (fields) => {
    if (options.allowPrivate || fields.length === 0) return;
    const urlByHost = new Map<string, string>();
    for (const f of fields) if (!urlByHost.has(urlHostname(f.url))) urlByHost.set(urlHostname(f.url), f.url);
    const checks = new Map<string, DestinationCheck>();
    const hosts = [...urlByHost.entries()];
    for (let i = 0; i < hosts.length; i += LOOKUP_CONCURRENCY) {
      const chunk = hosts.slice(i, i + LOOKUP_CONCURRENCY);
      const results = await Promise.all(chunk.map(([, url]) => checkDestination(url, { resolve, timeoutMs: options.timeoutMs })));
      chunk.forEach(([host], j) => checks.set(host, results[j]!));
    }
    const details: ValidationDetail[] = [];
    for (const f of fields) {
      const check = checks.get(urlHostname(f.url))!;
      if (!check.ok && check.reason === "blocked") details.push({ field: f.field, rule: "ssrf_blocked", message: check.error.message });
    }
    if (details.length === 0) return;
    const first = details[0]!;
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : "";
    throw new ApiError(400, "validation_failed", `invalid request body: ${first.field}: ${first.message}${more}`, details);
  };
}

/** The callback URLs of a batch request, named by field. */
export function batchCallbackUrls(body: BatchCreate): CallbackUrlField[] {
  const fields: CallbackUrlField[] = [];
  if (body.callback_url) fields.push({ field: "callback_url", url: body.callback_url });
  body.items.forEach((item, i) => {
    if (item.callback_url) fields.push({ field: `items.${i}.callback_url`, url: item.callback_url });
  });
  return fields;
}
