import { timingSafeEqual } from "node:crypto";
import jwt from "jsonwebtoken";

export interface AuthSettings {
  /** Static bearer key (proxy mode); null = refused. */
  apiKey: string | null;
  /** JWT mode is on when both are set. */
  accessKey: string | null;
  secretKey: string | null;
  nowMs: number;
}

export interface AuthFailure {
  code: 1000 | 1001 | 1002 | 1003 | 1004;
  message: string;
}

/**
 * Checks `Authorization` the way the upstream API does it: a static key (proxy) and/or an HS256 JWT
 * `{iss: accessKey, exp, nbf}` signed with the secret key (official). Both may be accepted at once.
 * Codes: 1001 header empty, 1002 invalid (not a bearer token, bad signature, malformed JWT), 1003 not yet valid,
 * 1004 expired, 1000 anything else that does not authenticate (unknown key, unknown issuer).
 */
export function checkAuthorization(header: string | undefined, settings: AuthSettings): AuthFailure | null {
  const value = header?.trim() ?? "";
  if (value === "") return { code: 1001, message: "Authorization header is empty" };
  const match = /^Bearer\s+(\S+)$/i.exec(value);
  const token = match?.[1];
  if (token === undefined) return { code: 1002, message: "Authorization is invalid: expected 'Bearer <token>'" };

  if (settings.apiKey !== null && constantTimeEqual(token, settings.apiKey)) return null;

  const { accessKey, secretKey } = settings;
  if (accessKey !== null && secretKey !== null && token.split(".").length === 3) {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, secretKey, {
        algorithms: ["HS256"],
        clockTimestamp: Math.floor(settings.nowMs / 1000),
      });
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) return { code: 1004, message: "Authorization has expired" };
      if (err instanceof jwt.NotBeforeError) return { code: 1003, message: "Authorization is not yet valid" };
      return { code: 1002, message: "Authorization is invalid: token signature or format rejected" };
    }
    if (typeof payload === "string" || typeof payload.exp !== "number") {
      return { code: 1002, message: "Authorization is invalid: token must carry a numeric exp" };
    }
    if (payload.iss !== accessKey) return { code: 1000, message: "Authentication failed: unknown access key" };
    return null;
  }
  return { code: 1000, message: "Authentication failed: unknown key" };
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
