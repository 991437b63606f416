import http from "node:http";
import type { AddressInfo } from "node:net";
import jwt from "jsonwebtoken";
import { KLING_JWT_REFRESH_MARGIN_SECONDS, createKlingClient, signKlingJwt } from "./client";

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A loopback server whose answer each test scripts; records what the client sent. */
async function startScripted() {
  const seen: Seen[] = [];
  let answer: { status: number; body: string; headers?: Record<string, string> } = { status: 200, body: "{}" };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body,
      });
      res.writeHead(answer.status, { "Content-Type": "application/json", ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    answer: (status: number, body: unknown, headers?: Record<string, string>) => {
      answer = { status, body: typeof body === "string" ? body : JSON.stringify(body), headers };
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

const TASK = { task_id: "815336423632572487", task_status: "submitted", created_at: 1722769557708, updated_at: 1722769557708 };
const SUCCESS = { code: 0, message: "SUCCEED", request_id: "req-123", data: TASK };

describe("kling client (scripted loopback server)", () => {
  let upstream: Awaited<ReturnType<typeof startScripted>>;
  beforeEach(async () => {
    upstream = await startScripted();
  });
  afterEach(() => upstream.close());

  const staticClient = (apiKey = "static-key-abc") =>
    createKlingClient({ baseUrl: `${upstream.url}/`, pathPrefix: "/kling", auth: { mode: "static", apiKey }, timeoutMs: 1000 });

  it("sends the documented requests", async () => {
    upstream.answer(200, SUCCESS);
    const client = staticClient();
    const created = await client.createTask({ video_id: "1", prompt: "p", cfg_scale: 0.5 });
    expect(created).toEqual({ ok: true, data: TASK, requestId: "req-123" });
    await client.getTask("ext/id 1");
    upstream.answer(200, { ...SUCCESS, data: [TASK] });
    expect(await client.listTasks({ pageNum: 2, pageSize: 30 })).toEqual({ ok: true, data: [TASK], requestId: "req-123" });

    expect(upstream.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "POST /kling/v1/videos/video-extend",
      "GET /kling/v1/videos/video-extend/ext%2Fid%201",
      "GET /kling/v1/videos/video-extend?pageNum=2&pageSize=30",
    ]);
    expect(upstream.seen[0]).toMatchObject({ authorization: "Bearer static-key-abc", contentType: "application/json" });
    expect(JSON.parse(upstream.seen[0]!.body)).toEqual({ video_id: "1", prompt: "p", cfg_scale: 0.5 });
    expect(upstream.seen[1]!.contentType).toBeUndefined();
  });

  it("tolerates missing optional fields, unknown fields and numeric durations", async () => {
    upstream.answer(200, {
      code: 0,
      data: {
        task_id: "1",
        task_status: "succeed",
        brand_new_field: { x: 1 },
        task_result: { videos: [{ id: "2", url: "https://x/2.mp4", duration: 9.5, extra: true }] },
        final_unit_deduction: 1,
      },
    });
    const result = await staticClient().getTask("1");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.requestId).toBeUndefined();
    expect(result.data.task_result?.videos[0]?.duration).toBe("9.5");
    expect(result.data.final_unit_deduction).toBe("1");
    expect(result.data.brand_new_field).toEqual({ x: 1 });
  });

  it("reads HTTP 200 with a failed task as that task (a failure the caller applies), and the newer spelling as succeed", async () => {
    upstream.answer(200, { code: 0, message: "SUCCEED", data: { ...TASK, task_status: "failed", task_status_msg: "content risk control", final_unit_deduction: "0" } });
    const client = staticClient();
    expect(await client.createTask({ video_id: "1", prompt: "p" })).toMatchObject({
      ok: true,
      data: { task_status: "failed", task_status_msg: "content risk control", final_unit_deduction: "0" },
    });
    upstream.answer(200, { code: 0, data: { ...TASK, task_status: "succeeded", task_result: { videos: [{ id: "2", url: "u", duration: "9.5" }] } } });
    expect(await client.getTask("1")).toMatchObject({ ok: true, data: { task_status: "succeed" } });
    upstream.answer(200, { code: 0, data: [{ id: "3", status: "succeeded", outputs: [{ type: "video", id: "4", url: "u", duration: "9.5" }], billing: [{ type: "unit", amount: "1" }] }] });
    expect(await client.listTasks({ pageNum: 1, pageSize: 1 })).toMatchObject({
      ok: true,
      data: [{ task_id: "3", task_status: "succeed", task_result: { videos: [{ id: "4" }] }, final_unit_deduction: "1" }],
    });
  });

  it("treats an error code under HTTP 200 as an error", async () => {
    upstream.answer(200, { code: 1301, message: "content safety", request_id: "r" });
    expect(await staticClient().getTask("1")).toEqual({
      ok: false,
      httpStatus: 200,
      code: 1301,
      message: "content safety",
      requestId: "r",
    });
  });

  it("reports a non-JSON body with code null and a short snippet", async () => {
    upstream.answer(502, `<html>${"bad gateway ".repeat(100)}</html>`, { "Content-Type": "text/html", "X-Request-Id": "edge-1" });
    const result = await staticClient().getTask("1");
    expect(result).toMatchObject({ ok: false, httpStatus: 502, code: null, requestId: "edge-1" });
    if (!result.ok) expect(result.message.length).toBeLessThan(300);
  });

  it("reports JSON without a code, and a success with unreadable data, as code null", async () => {
    upstream.answer(404, { error: "not here" });
    expect(await staticClient().getTask("1")).toMatchObject({ ok: false, httpStatus: 404, code: null });
    upstream.answer(200, { code: 0, data: { task_status: "weird" } });
    const result = await staticClient().getTask("1");
    expect(result).toMatchObject({ ok: false, httpStatus: 200, code: null });
    if (!result.ok) expect(result.message).toMatch(/unexpected data/);
  });

  it("never echoes credentials in an error message", async () => {
    upstream.answer(401, { code: 1000, message: "bad key static-key-abc for you" });
    const result = await staticClient().getTask("1");
    expect(result).toMatchObject({ ok: false, httpStatus: 401, code: 1000, message: "bad key [redacted] for you" });
  });

  it("reports connection refused as httpStatus 0", async () => {
    const url = upstream.url;
    await upstream.close();
    const client = createKlingClient({ baseUrl: url, pathPrefix: "", auth: { mode: "static", apiKey: "k" }, timeoutMs: 1000 });
    const result = await client.getTask("1");
    expect(result).toMatchObject({ ok: false, httpStatus: 0, code: null, message: expect.stringMatching(/^network error.*ECONNREFUSED/) });
    upstream = await startScripted(); // for afterEach
  });

  it("signs an HS256 JWT with exactly iss/exp/nbf, caches it and refreshes it before expiry", async () => {
    upstream.answer(200, SUCCESS);
    let now = 1_700_000_000_000;
    const client = createKlingClient({
      baseUrl: upstream.url,
      pathPrefix: "",
      auth: { mode: "jwt", accessKey: "AK", secretKey: "SK-secret" },
      timeoutMs: 1000,
      now: () => now,
    });
    await client.getTask("1");
    now += 60_000;
    await client.getTask("1");
    now += (1800 - 60 - KLING_JWT_REFRESH_MARGIN_SECONDS + 1) * 1000; // inside the refresh margin
    await client.getTask("1");

    const tokens = upstream.seen.map((s) => s.authorization!.replace(/^Bearer /, ""));
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).not.toBe(tokens[1]);
    const decoded = jwt.decode(tokens[0]!, { complete: true })!;
    expect(decoded.header).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decoded.payload).toEqual({ iss: "AK", exp: 1_700_000_000 + 1800, nbf: 1_700_000_000 - 5 });
    expect(() => jwt.verify(tokens[0]!, "SK-secret", { algorithms: ["HS256"], clockTimestamp: 1_700_000_000 })).not.toThrow();
    expect((jwt.decode(tokens[2]!) as jwt.JwtPayload).exp).toBe(Math.floor(now / 1000) + 1800);
  });

  it("signKlingJwt floors milliseconds to seconds", () => {
    const { token, expSeconds } = signKlingJwt("a", "b", 1_000_999);
    expect(expSeconds).toBe(1000 + 1800);
    expect(jwt.decode(token)).toEqual({ iss: "a", exp: 2800, nbf: 995 });
  });
});
