import request from "supertest";
import { API_TOKEN, auth, startApiHarness, validItem, type ApiHarness } from "./helpers";

const basic = (password: string, user = "operator") => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

const XSS_PROMPT = "<script>alert(1)</script>";

describe("status pages over HTTP", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const page = (p: string) => request(h.api.url).get(p).set(basic(API_TOKEN));
  const createJob = async (body: object) => {
    const res = await request(h.api.url).post("/v1/extensions").set(auth).send(body);
    expect(res.status).toBe(202);
    return res.body as { id: string };
  };
  const createBatch = async (n: number) => {
    const res = await request(h.api.url)
      .post("/v1/batches")
      .set(auth)
      .send({ items: Array.from({ length: n }, (_, i) => validItem(i)) });
    expect(res.status).toBe(202);
    return res.body as { id: string; jobs: string[] };
  };

  describe("authentication", () => {
    it.each(["/ui", "/ui/", "/ui/extensions", "/ui/jobs/00000000-0000-4000-8000-000000000000", "/ui/no-such-page", "/ui/app.js"])(
      "%s answers 401 with a Basic challenge without credentials",
      async (p) => {
        const res = await request(h.api.url).get(p);
        expect(res.status).toBe(401);
        expect(res.headers["www-authenticate"]).toBe('Basic realm="kex"');
        expect(res.headers["content-type"]).toMatch(/^text\/html/);
        expect(res.text).toContain("401");
      },
    );

    it.each([
      ["a wrong password", basic("not-the-api-token-at-all")],
      ["the token as user name", { Authorization: `Basic ${Buffer.from(`${API_TOKEN}:`).toString("base64")}` }],
      ["no colon", { Authorization: `Basic ${Buffer.from(API_TOKEN).toString("base64")}` }],
      ["a bearer header", auth],
      ["garbage", { Authorization: "Basic %%%" }],
    ])("rejects %s", async (_name, headers) => {
      const res = await request(h.api.url).get("/ui").set(headers);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Basic realm="kex"');
    });

    it("answers the JSON endpoints' 401 in JSON", async () => {
      const res = await request(h.api.url).get("/ui/api/batches");
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Basic realm="kex"');
      expect(res.body.error.code).toBe("unauthorized");
    });

    it("accepts any user name with the API token as password", async () => {
      for (const user of ["operator", "", "ü"]) {
        const res = await request(h.api.url).get("/ui").set(basic(API_TOKEN, user));
        expect(res.status).toBe(200);
        expect(res.headers["content-type"]).toMatch(/^text\/html/);
        expect(res.text).toContain("<h1>Batches</h1>");
      }
    });

    it("sends a Content-Security-Policy that allows no inline script, and no-store", async () => {
      const res = await page("/ui");
      expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
      expect(res.headers["cache-control"]).toBe("no-store");
      const js = await page("/ui/app.js");
      expect(js.status).toBe(200);
      expect(js.headers["content-type"]).toMatch(/javascript/);
    });
  });

  describe("escaping user input", () => {
    let jobId: string;
    beforeAll(async () => {
      ({ id: jobId } = await createJob({
        video_id: "812345678901234567",
        prompt: XSS_PROMPT,
        negative_prompt: "</pre><b>bold</b>",
        callback_url: 'https://client.example/hook?a=1&b="2"',
        metadata: { note: '"><img src=x onerror=alert(2)>', "<key>": "&amp;" },
      }));
    });

    it("renders the prompt, negative prompt and metadata of a job as text", async () => {
      const res = await page(`/ui/jobs/${jobId}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(res.text).not.toContain("<script>alert");
      expect(res.text).toContain("&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt;");
      expect(res.text).not.toContain("<b>bold</b>");
      expect(res.text).toContain("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;");
      expect(res.text).not.toContain("<img");
      expect(res.text).toContain("&amp;amp;");
      expect(res.text).toContain("https://client.example/hook?a=1&amp;b=&quot;2&quot;");
      // The only script is our own file.
      expect(res.text.match(/<script/g)).toEqual(["<script"]);
    });

    it("escapes the prompt in the job list, also inside attributes", async () => {
      const res = await page("/ui/extensions");
      expect(res.status).toBe(200);
      expect(res.text).toContain(`title="&lt;script&gt;alert(1)&lt;/script&gt;"`);
      expect(res.text).toContain(">&lt;script&gt;alert(1)&lt;/script&gt;</td>");
      expect(res.text).not.toContain("<script>alert");
    });

    it("escapes query values echoed back in the filter form", async () => {
      const res = await page(`/ui/extensions?batch_id=${encodeURIComponent('"><script>alert(3)</script>')}`);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain("<script>alert(3)");
    });
  });

  describe("pages", () => {
    it("lists batches newest first with their counts", async () => {
      const older = await createBatch(2);
      const newer = await createBatch(3);
      const res = await page("/ui");
      expect(res.status).toBe(200);
      const iNewer = res.text.indexOf(`data-batch-id="${newer.id}"`);
      const iOlder = res.text.indexOf(`data-batch-id="${older.id}"`);
      expect(iNewer).toBeGreaterThan(-1);
      expect(iOlder).toBeGreaterThan(iNewer);
      const json = await page("/ui/api/batches");
      expect(json.status).toBe(200);
      const listed = json.body.data.find((b: { id: string }) => b.id === newer.id);
      expect(listed).toMatchObject({ total: 3, done: false, counts: { queued: 3, succeeded: 0 } });
      expect(json.body.data.findIndex((b: { id: string }) => b.id === newer.id)).toBeLessThan(
        json.body.data.findIndex((b: { id: string }) => b.id === older.id),
      );
    });

    it("shows a batch with a status filter and cursor pagination", async () => {
      const batch = await createBatch(5);
      await h.api.db.prisma.job.update({ where: { id: batch.jobs[0]! }, data: { status: "failed", errorCode: "1203", errorMessage: "gone" } });
      const first = await page(`/ui/batches/${batch.id}?limit=2`);
      expect(first.status).toBe(200);
      expect(first.text).toContain('data-count="queued">4<');
      expect(first.text).toContain('data-count="failed">1<');
      const seen = [...first.text.matchAll(/<tr data-job-id="([^"]+)"/g)].map((m) => m[1]);
      expect(seen).toHaveLength(2);
      const next = /<a rel="next" href="([^"]+)"/.exec(first.text)?.[1]?.replace(/&amp;/g, "&");
      expect(next).toMatch(/limit=2&cursor=/);
      const second = await page(next!);
      expect(second.status).toBe(200);
      const seen2 = [...second.text.matchAll(/<tr data-job-id="([^"]+)"/g)].map((m) => m[1]);
      expect(seen2).toHaveLength(2);
      expect(seen2.some((id) => seen.includes(id))).toBe(false);

      const failed = await page(`/ui/batches/${batch.id}?status=failed`);
      expect([...failed.text.matchAll(/<tr data-job-id="([^"]+)"/g)].map((m) => m[1])).toEqual([batch.jobs[0]]);
      expect(failed.text).toMatch(/<a href="[^"]*status=failed"\s+aria-current="page"\s*>/);

      const counts = await page(`/ui/api/batches/${batch.id}`);
      expect(counts.body).toMatchObject({ id: batch.id, total: 5, counts: { queued: 4, failed: 1 }, done: false });
      const rows = await page(`/ui/api/extensions?batch_id=${batch.id}&status=failed`);
      expect(rows.body.data).toEqual([expect.objectContaining({ id: batch.jobs[0], status: "failed" })]);
    });

    it("filters the job list by status and batch", async () => {
      const batch = await createBatch(2);
      const res = await page(`/ui/extensions?status=queued&batch_id=${batch.id}`);
      expect(res.status).toBe(200);
      const ids = [...res.text.matchAll(/<tr data-job-id="([^"]+)"/g)].map((m) => m[1]);
      expect(ids.sort()).toEqual([...batch.jobs].sort());
      // A form submits empty fields: they mean "any".
      expect((await page("/ui/extensions?status=&batch_id=")).status).toBe(200);
    });

    it("plays the result of a succeeded job and shows the event timeline", async () => {
      const { id } = await createJob(validItem(7));
      const url = "https://cdn.example/videos/123456789012345678.mp4?sig=a&b=c";
      await h.api.db.prisma.job.update({
        where: { id },
        data: { status: "succeeded", resultVideoId: "123456789012345678", resultUrl: url, resultDuration: 9.5, finishedAt: new Date() },
      });
      await h.api.db.prisma.jobEvent.create({
        data: {
          jobId: id,
          source: "webhook",
          type: "upstream_succeed",
          fromStatus: "processing",
          toStatus: "succeeded",
          payload: { task_status: "<succeed>" },
        },
      });
      const res = await page(`/ui/jobs/${id}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain(`<video controls preload="metadata" src="${url.replace(/&/g, "&amp;")}"></video>`);
      expect(res.text).toMatch(/<details>\s*<summary>payload<\/summary>/);
      expect(res.text).toContain("&lt;succeed&gt;");
      expect(res.text).toMatch(/processing → <b>succeeded<\/b>/);
      expect(res.text).toMatch(/· → <b>queued<\/b>/);
    });

    it("shows the error of a failed job, and never a non-http(s) URL as a video", async () => {
      const { id } = await createJob(validItem(8));
      await h.api.db.prisma.job.update({
        where: { id },
        data: {
          status: "failed",
          errorCode: "task_failed",
          errorMessage: "content <risk> control",
          resultVideoId: "1",
          resultUrl: "javascript:alert(1)",
        },
      });
      const res = await page(`/ui/jobs/${id}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain("task_failed");
      expect(res.text).toContain("content &lt;risk&gt; control");
      expect(res.text).not.toContain("<video");
      expect(res.text).not.toContain("javascript:");
    });
  });

  describe("errors are pages, never a 500", () => {
    it.each([
      ["an unknown job", "/ui/jobs/00000000-0000-4000-8000-000000000000"],
      ["a job id that is not a uuid", "/ui/jobs/not-a-uuid"],
      ["an unknown batch", "/ui/batches/00000000-0000-4000-8000-000000000000"],
      ["a batch id that is not a uuid", "/ui/batches/%3Cb%3E"],
      ["an unknown page", "/ui/nope"],
    ])("404 for %s", async (_name, p) => {
      const res = await page(p);
      expect(res.status).toBe(404);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(res.text).toContain("404 · Not found");
      expect(res.text).not.toContain("<b>");
    });

    it("404 in JSON for an unknown id on the JSON endpoints", async () => {
      const res = await page("/ui/api/jobs/00000000-0000-4000-8000-000000000000");
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    });

    it.each([
      ["an unknown status", "/ui/extensions?status=done"],
      ["a batch id that is not a uuid", "/ui/extensions?batch_id=abc"],
      ["a forged cursor", "/ui/extensions?cursor=bm90LWEtY3Vyc29y"],
      ["a limit out of range", "/ui/extensions?limit=0"],
      ["a limit that is not a number", "/ui/extensions?limit=many"],
      ["an unknown parameter", "/ui/extensions?color=red"],
      ["a repeated parameter", "/ui/extensions?status=queued&status=failed"],
      ["a bad cursor on the batch list", "/ui?cursor=xyz"],
      ["an unknown parameter on the batch list", "/ui?page=2"],
      ["an unknown status on a batch", "/ui/batches/00000000-0000-4000-8000-000000000000?status=nope"],
      ["a bad cursor on the JSON endpoint", "/ui/api/extensions?cursor=xyz"],
    ])("400 for %s", async (_name, p) => {
      const res = await page(p);
      expect(res.status).toBe(400);
      if (p.startsWith("/ui/api/")) expect(res.body.error.code).toBe("validation_failed");
      else expect(res.text).toContain("400 · Bad request");
    });
  });
});
