import http from "node:http";
import { callbackToken } from "@kex/core";
import { API_TOKEN, auth, CALLBACK_SECRET, startApiHarness, type ApiHarness } from "./helpers";

/**
 * A path segment that is not valid percent-encoding (`%ZZ`, a lone `%`, a cut UTF-8 sequence) cannot
 * name anything: every route with a path parameter answers 400 with the JSON error body (the /ui pages
 * render it as their HTML error page), never a 500.
 */

let h: ApiHarness;
let documented: Array<{ method: string; path: string }>;
beforeAll(async () => {
  h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0" });
  const doc = (await send("GET", "/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
  documented = Object.entries(doc.paths)
    .filter(([path]) => path.includes("{"))
    .flatMap(([path, item]) => Object.keys(item).map((method) => ({ method: method.toUpperCase(), path })));
});
afterAll(() => h.close());

interface Answer {
  status: number;
  type: string;
  text: string;
  json: unknown;
}

/** A request with the path sent byte for byte as written (HTTP clients would re-encode it). */
function send(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(h.api.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const type = String(res.headers["content-type"] ?? "");
        resolve({ status: res.statusCode ?? 0, type, text, json: type.startsWith("application/json") ? JSON.parse(text) : undefined });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const BAD_SEGMENTS = ["%ZZ", "%", "%E0%A4%A"];

function expectJsonPathError(answer: Answer, where: string): void {
  expect([where, answer.status]).toEqual([where, 400]);
  expect(answer.json).toEqual({
    error: {
      code: "validation_failed",
      message: expect.stringContaining("percent-encoding"),
      details: [{ field: "(path)", rule: "percent_encoding", message: expect.any(String) }],
    },
  });
}

describe.each(BAD_SEGMENTS)("a path segment %s", (bad) => {
  it("answers 400 with the JSON error body on every documented route with a path parameter", async () => {
    expect(documented.length).toBeGreaterThan(8);
    for (const { method, path } of documented) {
      const raw = path.replace(/\{[^}]+\}/g, bad);
      const query = path.startsWith("/webhooks/") ? "?token=whatever" : "";
      expectJsonPathError(await send(method, raw + query, auth), `${method} ${raw}`);
    }
  });

  it("answers 400 on the callback receiver with a token made for that very id", async () => {
    const token = callbackToken(CALLBACK_SECRET, bad);
    expectJsonPathError(await send("POST", `/webhooks/kling/${bad}?token=${encodeURIComponent(token)}`), "callback");
  });

  it("answers 400 on /docs files", async () => {
    expectJsonPathError(await send("GET", `/docs/${bad}`), "docs");
  });

  it("answers 400 on the status pages: an HTML error page, and JSON under /ui/api", async () => {
    const basic = { Authorization: `Basic ${Buffer.from(`operator:${API_TOKEN}`).toString("base64")}` };
    for (const page of [`/ui/jobs/${bad}`, `/ui/batches/${bad}`]) {
      const answer = await send("GET", page, basic);
      expect([page, answer.status]).toEqual([page, 400]);
      expect(answer.type).toMatch(/^text\/html/);
      expect(answer.text).toContain("400 · Bad request");
    }
    for (const endpoint of [`/ui/api/jobs/${bad}`, `/ui/api/batches/${bad}`]) expectJsonPathError(await send("GET", endpoint, basic), endpoint);
  });
});
