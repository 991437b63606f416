import jwt from "jsonwebtoken";
import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { API_KEY, FAST, FRESH_VIDEO, SandboxClient } from "./helpers";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("sandbox API surface (docs/upstream-api.md: create, query, list, errors)", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;

  beforeEach(async () => {
    // Slow lifecycle: tasks stay `submitted` while a test inspects them.
    sandbox = await startSandbox({ ...FAST, processingDelayMs: 60_000 });
    client = new SandboxClient(sandbox);
  });
  afterEach(() => sandbox.close());

  describe("create", () => {
    it("answers the documented success envelope", async () => {
      const before = Date.now();
      const answer = await client.create({ video_id: FRESH_VIDEO, prompt: "a cat walks on", external_task_id: "job-a-1" });
      expect(answer.status).toBe(200);
      expect(answer.body.code).toBe(0);
      expect(answer.body.message).toBe("SUCCEED");
      expect(answer.body.request_id).toMatch(UUID);
      const data = answer.body.data;
      expect(data.task_id).toMatch(/^\d{18}$/);
      expect(data.task_status).toBe("submitted");
      expect(data.task_info).toEqual({ external_task_id: "job-a-1" });
      // milliseconds, not seconds
      expect(data.created_at).toBeGreaterThanOrEqual(before);
      expect(data.created_at).toBeLessThanOrEqual(Date.now());
      expect(data.updated_at).toBe(data.created_at);
    });

    it("gives every task a distinct id and every answer a distinct request id", async () => {
      const a = await client.create({ video_id: FRESH_VIDEO, prompt: "one" });
      const b = await client.create({ video_id: FRESH_VIDEO, prompt: "two" });
      expect(a.body.data.task_id).not.toBe(b.body.data.task_id);
      expect(a.body.request_id).not.toBe(b.body.request_id);
    });

    const valid = { video_id: FRESH_VIDEO, prompt: "p" };
    const limits: Array<[string, Record<string, unknown>, boolean]> = [
      ["prompt of 2500 characters", { prompt: "x".repeat(2500) }, true],
      ["prompt of 2501 characters", { prompt: "x".repeat(2501) }, false],
      ["prompt of 2500 emoji (characters, not UTF-16 units)", { prompt: "🎬".repeat(2500) }, true],
      ["negative_prompt of 2500 characters", { negative_prompt: "n".repeat(2500) }, true],
      ["negative_prompt of 2501 characters", { negative_prompt: "n".repeat(2501) }, false],
      ["cfg_scale 0", { cfg_scale: 0 }, true],
      ["cfg_scale 1", { cfg_scale: 1 }, true],
      ["cfg_scale -0.01", { cfg_scale: -0.01 }, false],
      ["cfg_scale 1.01", { cfg_scale: 1.01 }, false],
      ["cfg_scale as a string", { cfg_scale: "0.5" }, false],
      ["callback_url https", { callback_url: "https://example.test/hook?token=abc" }, true],
      ["callback_url http", { callback_url: "http://127.0.0.1:9/hook" }, true],
      ["callback_url ftp", { callback_url: "ftp://example.test/hook" }, false],
      ["callback_url not a URL", { callback_url: "not a url" }, false],
      ["missing prompt (required by the proxy spec)", { prompt: undefined }, false],
      ["empty prompt", { prompt: "" }, false],
      ["missing video_id", { video_id: undefined }, false],
      ["numeric video_id", { video_id: 123456789012345 }, false],
      ["empty external_task_id", { external_task_id: "" }, false],
      ["unknown extra fields are ignored", { mode: "pro", duration: "5" }, true],
    ];
    it.each(limits)("%s", async (_name, patch, accepted) => {
      const answer = await client.create({ ...valid, ...patch });
      if (accepted) {
        expect(answer.status).toBe(200);
        expect(answer.body.code).toBe(0);
      } else {
        expect(answer.status).toBe(400);
        expect(answer.body).toEqual({ code: 1201, message: expect.any(String), request_id: expect.stringMatching(UUID) });
        expect(answer.body.data).toBeUndefined();
      }
    });

    it("names the offending field in a 1201 message", async () => {
      const answer = await client.create({ ...valid, prompt: "x".repeat(2501) });
      expect(answer.body.message).toMatch(/prompt.*2500/);
    });

    it("answers malformed JSON and non-object bodies with 400/1200", async () => {
      for (const raw of ["{not json", "[1,2]", "42", ""]) {
        const answer = await client.create(undefined, { raw });
        expect({ raw, status: answer.status, code: answer.body.code }).toEqual({ raw, status: 400, code: 1200 });
      }
    });

    it("refuses a duplicate external_task_id with 400/1201 and a clear message", async () => {
      const first = await client.create({ ...valid, external_task_id: "dup-1" });
      expect(first.body.code).toBe(0);
      const second = await client.create({ ...valid, external_task_id: "dup-1" });
      expect(second.status).toBe(400);
      expect(second.body.code).toBe(1201);
      expect(second.body.message).toMatch(/external_task_id dup-1 is already used/);
      expect(sandbox.stats().tasksCreated).toBe(1);
    });

    it("answers 404/1203 for videos that do not exist", async () => {
      for (const video_id of ["404123456789012345", "abc", "12345678901234" /* 14 digits */, "123456789012345678901"]) {
        const answer = await client.create({ ...valid, video_id });
        expect({ video_id, status: answer.status, code: answer.body.code }).toEqual({ video_id, status: 404, code: 1203 });
      }
      for (const video_id of ["123456789012345" /* 15 */, "12345678901234567890" /* 20 */]) {
        const answer = await client.create({ ...valid, video_id });
        expect({ video_id, status: answer.status }).toEqual({ video_id, status: 200 });
      }
    });
  });

  describe("authentication (static key)", () => {
    it("answers 401/1001 without an Authorization header", async () => {
      const answer = await client.create(valid(), { key: "" });
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe(1001);
    });

    it("answers 401/1000 for a wrong key, on every route", async () => {
      const wrong = new SandboxClient(sandbox, "not-the-key");
      for (const answer of [await wrong.create(valid()), await wrong.get("1"), await wrong.list("")]) {
        expect(answer.status).toBe(401);
        expect(answer.body.code).toBe(1000);
      }
    });

    it("answers 401/1002 for a header that is not a bearer token", async () => {
      const response = await fetch(`${sandbox.url}/kling/v1/videos/video-extend`, {
        headers: { Authorization: `Basic ${API_KEY}` },
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { code: number }).code).toBe(1002);
    });

    it("checks auth before the body", async () => {
      const answer = await client.create(undefined, { raw: "{broken", key: "wrong" });
      expect(answer.status).toBe(401);
    });
  });

  describe("query and list", () => {
    it("finds a task by task_id and by external_task_id", async () => {
      const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job-q-1" });
      const taskId = created.body.data.task_id as string;
      const byId = await client.get(taskId);
      const byExternal = await client.get("job-q-1");
      expect(byId.status).toBe(200);
      expect(byId.body.code).toBe(0);
      expect(byExternal.body.data).toEqual(byId.body.data);
      expect(byId.body.data).toMatchObject({
        task_id: taskId,
        task_status: "submitted",
        task_status_msg: "",
        task_info: {
          external_task_id: "job-q-1",
          parent_video: { id: FRESH_VIDEO, url: `${sandbox.url}/videos/${FRESH_VIDEO}.mp4`, duration: "5.0" },
        },
      });
      expect(byId.body.data.task_result).toBeUndefined();
    });

    it("answers 404/1203 for an unknown task", async () => {
      const answer = await client.get("999999999999999999");
      expect(answer.status).toBe(404);
      expect(answer.body.code).toBe(1203);
    });

    it("answers 404/1202 for an unknown route or method", async () => {
      const response = await fetch(`${sandbox.url}/kling/v1/videos/video-extend/123`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${API_KEY}` },
      });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { code: number }).code).toBe(1202);
      const other = await fetch(`${sandbox.url}/kling/v1/videos/text2video`, { headers: { Authorization: `Bearer ${API_KEY}` } });
      expect(other.status).toBe(404);
      expect(((await other.json()) as { code: number }).code).toBe(1202);
    });

    it("lists newest first with pageNum/pageSize", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await client.create({ video_id: FRESH_VIDEO, prompt: `p${i}` })).body.data.task_id);
      const newestFirst = [...ids].reverse();

      const page1 = await client.list("?pageNum=1&pageSize=2");
      const page2 = await client.list("?pageNum=2&pageSize=2");
      const page3 = await client.list("?pageNum=3&pageSize=2");
      const page4 = await client.list("?pageNum=4&pageSize=2");
      expect(page1.body.code).toBe(0);
      expect(page1.body.data.map((t: { task_id: string }) => t.task_id)).toEqual(newestFirst.slice(0, 2));
      expect(page2.body.data.map((t: { task_id: string }) => t.task_id)).toEqual(newestFirst.slice(2, 4));
      expect(page3.body.data.map((t: { task_id: string }) => t.task_id)).toEqual(newestFirst.slice(4));
      expect(page4.body.data).toEqual([]);
      const all = await client.list("");
      expect(all.body.data).toHaveLength(5);
      expect(all.body.data[0].task_info.parent_video.id).toBe(FRESH_VIDEO);
    });

    it.each([
      ["pageNum=1000&pageSize=500", 200],
      ["pageNum=1&pageSize=1", 200],
      ["pageNum=0&pageSize=30", 400],
      ["pageNum=1001&pageSize=30", 400],
      ["pageNum=1&pageSize=0", 400],
      ["pageNum=1&pageSize=501", 400],
      ["pageNum=abc", 400],
      ["pageSize=1.5", 400],
    ])("validates the page range: %s → %d", async (query, status) => {
      const answer = await client.list(`?${query}`);
      expect(answer.status).toBe(status);
      expect(answer.body.code).toBe(status === 200 ? 0 : 1201);
    });
  });

  describe("official mode: no prefix, JWT", () => {
    const accessKey = "ak-sandbox";
    const secretKey = "sk-sandbox-secret";
    let official: RunningSandbox;
    let now = Date.now();
    beforeEach(async () => {
      now = Date.now();
      official = await startSandbox({ ...FAST, pathPrefix: "", apiKey: null, accessKey, secretKey, now: () => now });
    });
    afterEach(() => official.close());

    const sign = (payload: object, secret = secretKey) =>
      jwt.sign(payload, secret, { algorithm: "HS256", header: { alg: "HS256", typ: "JWT" }, noTimestamp: true });
    const seconds = () => Math.floor(now / 1000);

    it.each([
      ["a valid token", () => sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() - 5 }), 200, 0],
      ["a wrong secret", () => sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() - 5 }, "wrong"), 401, 1002],
      ["an expired token", () => sign({ iss: accessKey, exp: seconds() - 1, nbf: seconds() - 1805 }), 401, 1004],
      ["a token not yet valid", () => sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() + 60 }), 401, 1003],
      ["an unknown issuer", () => sign({ iss: "someone-else", exp: seconds() + 1800, nbf: seconds() - 5 }), 401, 1000],
      ["a token without exp", () => sign({ iss: accessKey, nbf: seconds() - 5 }), 401, 1002],
      ["a garbled token", () => "aaa.bbb.ccc", 401, 1002],
      ["the proxy's static key (disabled here)", () => API_KEY, 401, 1000],
    ])("%s → %d/%d", async (_name, token, status, code) => {
      const answer = await new SandboxClient(official, token(), "").create({ video_id: FRESH_VIDEO, prompt: "p" });
      expect(answer.status).toBe(status);
      expect(answer.body.code).toBe(code);
    });

    it("judges exp against the injected clock", async () => {
      const token = sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() - 5 });
      const viaOfficial = new SandboxClient(official, token, "");
      expect((await viaOfficial.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.code).toBe(0);
      now += 1801 * 1000;
      expect((await viaOfficial.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.code).toBe(1004);
    });

    it("serves the API without a prefix and not under /kling", async () => {
      const token = sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() - 5 });
      const prefixed = await new SandboxClient(official, token, "/kling").create({ video_id: FRESH_VIDEO, prompt: "p" });
      expect(prefixed.status).toBe(404);
      expect(prefixed.body.code).toBe(1202);
    });

    it("accepts the static key and JWTs at once when both are configured", async () => {
      official.setOptions({ apiKey: API_KEY });
      const token = sign({ iss: accessKey, exp: seconds() + 1800, nbf: seconds() - 5 });
      expect((await new SandboxClient(official, API_KEY, "").create({ video_id: FRESH_VIDEO, prompt: "p" })).status).toBe(200);
      expect((await new SandboxClient(official, token, "").create({ video_id: FRESH_VIDEO, prompt: "p" })).status).toBe(200);
    });
  });

  it("serves an mp4 for known videos only", async () => {
    await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
    const known = await fetch(`${sandbox.url}/videos/${FRESH_VIDEO}.mp4`);
    expect(known.status).toBe(200);
    expect(known.headers.get("content-type")).toBe("video/mp4");
    const bytes = Buffer.from(await known.arrayBuffer());
    expect(bytes.subarray(4, 8).toString("ascii")).toBe("ftyp");
    const unknown = await fetch(`${sandbox.url}/videos/111111111111111111.mp4`);
    expect(unknown.status).toBe(404);
  });
});

function valid() {
  return { video_id: FRESH_VIDEO, prompt: "p" };
}
