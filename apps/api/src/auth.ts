import { apiKeyMatches, parseApiKey, safeEqual, type Logger } from "@kex/core";
import { DEFAULT_TENANT_ID, findApiKeyByPrefix, touchApiKey, type Db } from "@kex/db";
import type { RequestHandler, Response } from "express";
import { ApiError } from "./errors";

/** Who is calling: the tenant every `/v1` call is scoped to. */
export interface AuthContext {
  tenantId: string;
  /** The bootstrap `API_TOKEN`: acts as the default tenant and may manage tenants and any tenant's keys. */
  admin: boolean;
  keyId: string | null;
}

export function authOf(res: Response): AuthContext {
  const auth = res.locals.auth as AuthContext | undefined;
  if (!auth) throw new Error("authenticate() must run before this route");
  return auth;
}

interface CachedKey {
  hash: string;
  tenantId: string;
  keyId: string;
  revoked: boolean;
  expires: number;
}

/**
 * `Authorization: Bearer <key>`: either the bootstrap API_TOKEN (compared in constant time) or a
 * tenant API key (`kex_<prefix>_<secret>`, found by prefix, checked against its stored hash in
 * constant time). Verified keys are cached for `cacheMs`, so a revocation takes effect within it.
 */
export function authenticate(deps: { db: Db; apiToken: string; logger: Logger; cacheMs?: number }): RequestHandler {
  const cacheMs = deps.cacheMs ?? 5000;
  const cache = new Map<string, CachedKey>();
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "");
    if (!match) throw new ApiError(401, "unauthorized", "missing bearer token: send Authorization: Bearer <api key>");
    const token = match[1]!;
    const parsed = parseApiKey(token);
    if (!parsed) {
      if (!safeEqual(token, deps.apiToken)) throw new ApiError(401, "unauthorized", "invalid API key");
      res.locals.auth = { tenantId: DEFAULT_TENANT_ID, admin: true, keyId: null } satisfies AuthContext;
      return next();
    }
    const now = Date.now();
    let entry = cache.get(parsed.prefix);
    if (!entry || entry.expires < now) {
      const row = await findApiKeyByPrefix(deps.db, parsed.prefix);
      if (!row) throw new ApiError(401, "unauthorized", "invalid API key");
      entry = { hash: row.keyHash, tenantId: row.tenantId, keyId: row.id, revoked: row.revokedAt !== null, expires: now + cacheMs };
      if (cache.size > 10_000) cache.clear();
      cache.set(parsed.prefix, entry);
      // Refreshed at most once per cache period per key, off the request path.
      touchApiKey(deps.db, row.id).catch((err: Error) => deps.logger.warn({ err: err.message }, "could not record key use"));
    }
    if (!apiKeyMatches(token, entry.hash)) throw new ApiError(401, "unauthorized", "invalid API key");
    if (entry.revoked) throw new ApiError(401, "unauthorized", "this API key has been revoked");
    res.locals.auth = { tenantId: entry.tenantId, admin: false, keyId: entry.keyId } satisfies AuthContext;
    next();
  };
}

/**
 * HTTP Basic auth for browser-facing operator pages: any user name, the password is `password`
 * (compared in constant time). Anything else answers 401 with a challenge, so browsers ask for it.
 */
export function requireBasicAuth(password: string, realm: string): RequestHandler {
  const challenge = `Basic realm="${realm}"`;
  return (req, res, next) => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.get("authorization") ?? "");
    const decoded = match ? Buffer.from(match[1]!, "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    // Compare even when there is nothing to compare, so a missing header takes as long as a wrong one.
    const ok = safeEqual(colon === -1 ? "" : decoded.slice(colon + 1), password) && colon !== -1;
    if (ok) return next();
    res.set("WWW-Authenticate", challenge);
    next(new ApiError(401, "unauthorized", "this page needs HTTP Basic auth: any user name, the API token as password"));
  };
}
