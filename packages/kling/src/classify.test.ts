import { AT_CAPACITY_DELAY_MS, RATE_LIMITED_DELAY_MS, classifyUpstreamError, type UpstreamVerdict } from "./classify";
import type { KlingErrorResult } from "./client";

function err(httpStatus: number, code: number | null, message = `upstream says ${code ?? "nothing"}`): KlingErrorResult {
  return { ok: false, httpStatus, code, message, requestId: "req-1" };
}

const permanent = (code: string, alert: boolean, message: string): UpstreamVerdict => ({ kind: "permanent", code, message, alert });

// Every row of the error table in docs/upstream-api.md#errors-and-how-we-classify-them, with the HTTP status upstream pairs it with.
const table: Array<[string, KlingErrorResult, UpstreamVerdict]> = [
  ["401/1000 auth failed", err(401, 1000), permanent("1000", true, "upstream says 1000")],
  ["401/1001 header empty", err(401, 1001), permanent("1001", true, "upstream says 1001")],
  ["401/1002 invalid", err(401, 1002), permanent("1002", true, "upstream says 1002")],
  ["401/1003 not yet valid", err(401, 1003), permanent("1003", true, "upstream says 1003")],
  ["401/1004 expired", err(401, 1004), permanent("1004", true, "upstream says 1004")],
  ["429/1100 account exception", err(429, 1100), { kind: "pause_account", code: 1100, message: "upstream says 1100" }],
  ["429/1101 arrears", err(429, 1101), { kind: "pause_account", code: 1101, message: "upstream says 1101" }],
  ["429/1102 resource pack", err(429, 1102), { kind: "pause_account", code: 1102, message: "upstream says 1102" }],
  ["403/1103 no permission", err(403, 1103), permanent("1103", false, "upstream says 1103")],
  ["400/1200 invalid request", err(400, 1200, "body is not JSON"), permanent("1200", false, "body is not JSON")],
  [
    "400/1201 bad parameter keeps the message",
    err(400, 1201, "prompt must be at most 2500 characters"),
    permanent("1201", false, "prompt must be at most 2500 characters"),
  ],
  ["404/1202 bad method", err(404, 1202), permanent("1202", false, "upstream says 1202")],
  ["404/1203 no such resource", err(404, 1203), permanent("1203", false, "upstream says 1203")],
  ["400/1300 platform policy", err(400, 1300), permanent("1300", false, "upstream says 1300")],
  ["400/1301 content safety", err(400, 1301), permanent("1301", false, "upstream says 1301")],
  ["429/1302 rate limit", err(429, 1302), { kind: "rate_limited", delayMs: RATE_LIMITED_DELAY_MS }],
  ["429/1303 parallel limit", err(429, 1303), { kind: "at_capacity", delayMs: AT_CAPACITY_DELAY_MS }],
  ["429/1304 IP whitelist", err(429, 1304), permanent("1304", true, "upstream says 1304")],
  ["500/5000 internal", err(500, 5000), { kind: "retry", reason: "upstream 5000: upstream says 5000" }],
  ["503/5001 unavailable", err(503, 5001), { kind: "retry", reason: "upstream 5001: upstream says 5001" }],
  ["504/5002 timeout", err(504, 5002), { kind: "retry", reason: "upstream 5002: upstream says 5002" }],
  // Beyond the table.
  [
    "network error",
    err(0, null, "network error: fetch failed (ECONNREFUSED)"),
    { kind: "retry", reason: "network error: fetch failed (ECONNREFUSED)" },
  ],
  ["timeout", err(0, null, "timeout: no complete answer within 50 ms"), { kind: "retry", reason: "timeout: no complete answer within 50 ms" }],
  ["408 without a code", err(408, null, "request timeout"), { kind: "retry", reason: "HTTP 408: request timeout" }],
  ["unknown 5xx, non-JSON body", err(502, null, "bad gateway"), { kind: "retry", reason: "HTTP 502: bad gateway" }],
  ["unknown 5xx with an unknown code", err(500, 7777, "boom"), { kind: "retry", reason: "HTTP 500 code 7777: boom" }],
  ["unknown 4xx with an unknown code", err(400, 1299, "new rule"), permanent("1299", false, "new rule")],
  ["unknown 4xx without a code", err(413, null, "too large"), permanent("http_413", false, "too large")],
  ["429 without a code (a gateway)", err(429, null, "slow down"), { kind: "rate_limited", delayMs: RATE_LIMITED_DELAY_MS }],
  ["documented code under HTTP 200", err(200, 1301, "unsafe"), permanent("1301", false, "unsafe")],
  ["HTTP 200 with an unreadable payload", err(200, null, "bad data"), { kind: "retry", reason: "unexpected answer, HTTP 200: bad data" }],
];

describe("classifyUpstreamError", () => {
  it.each(table)("%s", (_name, input, expected) => {
    expect(classifyUpstreamError(input)).toEqual(expected);
  });

  it("falls back to the documented meaning when upstream sends no message", () => {
    expect(classifyUpstreamError(err(404, 1203, ""))).toEqual(permanent("1203", false, "requested resource does not exist"));
    expect(classifyUpstreamError(err(413, null, ""))).toEqual(permanent("http_413", false, "HTTP 413"));
  });

  it("uses the documented default delays", () => {
    expect(RATE_LIMITED_DELAY_MS).toBe(1000);
    expect(AT_CAPACITY_DELAY_MS).toBe(2000);
  });
});
