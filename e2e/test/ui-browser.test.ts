import { copyFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { JOB_STATUSES } from "@kex/core";
import { CHROMIUM_ARGS, CHROMIUM_PATH, describeWithBrowser, REPO_ROOT, waitFor } from "@kex/testing";
import { chromium, type Browser } from "playwright-core";
import request from "supertest";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

const XSS_PROMPT = "<script>alert(1)</script>";
const SCREENSHOT = path.join(REPO_ROOT, ".artifacts", "ui-batch.png");

describeWithBrowser("status pages in headless Chromium", () => {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
    // Slow enough that progress is visible: 20 jobs, 5 at a time, 1.1-1.8 s each upstream.
    stack = await startStack({
      sandbox: { maxConcurrency: 5, processingDelayMs: 300, completeDelayMinMs: 800, completeDelayMaxMs: 1500 },
      worker: { KLING_MAX_IN_FLIGHT: "5" },
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("updates a batch's counts live without reloading, then plays a job's result", async () => {
    const s = stack!;
    const items = Array.from({ length: 20 }, (_, i) => ({
      video_id: `7${String(i).padStart(17, "0")}`,
      prompt: i === 0 ? XSS_PROMPT : `slow dolly out, shot ${i}`,
    }));
    const created = await request(s.api.url)
      .post("/v1/batches")
      .set({ Authorization: `Bearer ${STACK_API_TOKEN}` })
      .send({ items });
    expect(created.status).toBe(202);
    const batch = created.body as { id: string; jobs: string[] };

    const context = await browser!.newContext({
      httpCredentials: { username: "operator", password: STACK_API_TOKEN },
      viewport: { width: 1280, height: 900 },
    });
    const tab = await context.newPage();
    const problems: string[] = [];
    tab.on("dialog", (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    tab.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    tab.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    tab.on("response", (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
    });
    let loads = 0;
    tab.on("load", () => loads++);

    try {
      await tab.goto(`${s.api.url}/ui/batches/${batch.id}`);
      const count = (status: string) => tab.locator(`.legend [data-count="${status}"]`).textContent().then(Number);
      expect(await tab.locator("[data-total-text]").textContent()).toBe("20");
      const shown = await Promise.all(JOB_STATUSES.map(count));
      expect(shown.reduce((a, b) => a + b, 0)).toBe(20);
      const initialSucceeded = await count("succeeded");
      expect(initialSucceeded).toBeLessThan(20);

      // The count moves on by itself (polling), not by a reload.
      await waitFor(async () => ((await count("succeeded")) > initialSucceeded ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: "the displayed succeeded count to go up",
      });
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await tab.screenshot({ path: path.join(REPO_ROOT, ".artifacts", "ui-batch-running.png"), fullPage: true, animations: "disabled" });
      await tab.waitForSelector('[data-progress][data-done="true"]', { timeout: 60_000 });
      const succeededRows = tab.locator("tr[data-job-id] .badge.s-succeeded");
      await waitFor(async () => ((await succeededRows.count()) === 20 ? true : undefined), {
        timeoutMs: 10_000,
        what: "every job row to show succeeded",
      });
      expect(await count("succeeded")).toBe(20);
      expect(await tab.locator("[data-state]").textContent()).toBe("done");
      expect(loads).toBe(1);
      // The hostile prompt is text on the page.
      expect(await tab.locator(`tr[data-job-id="${batch.jobs[0]}"] td.prompt`).textContent()).toBe(XSS_PROMPT);

      const tmp = path.join(os.tmpdir(), `kex-ui-batch-${process.pid}.png`);
      await tab.screenshot({ path: tmp, fullPage: true, animations: "disabled" });
      copyFileSync(tmp, SCREENSHOT);

      // The batch list shows it, finished, with the same counts.
      await tab.goto(`${s.api.url}/ui`);
      const row = tab.locator(`tr[data-batch-id="${batch.id}"]`);
      expect(await row.locator('[data-count="succeeded"]').textContent()).toBe("20");
      expect(await row.locator("[data-state]").textContent()).toBe("done");
      await tab.screenshot({ path: path.join(REPO_ROOT, ".artifacts", "ui-batches.png"), fullPage: true, animations: "disabled" });
      await tab.goto(`${s.api.url}/ui/batches/${batch.id}`);

      // The job page: the result plays from upstream's URL.
      const job = await request(s.api.url)
        .get(`/v1/extensions/${batch.jobs[0]}`)
        .set({ Authorization: `Bearer ${STACK_API_TOKEN}` });
      expect({ status: job.status, body: job.body }).toMatchObject({ status: 200, body: { status: "succeeded" } });
      await tab.click(`tr[data-job-id="${batch.jobs[0]}"] a`);
      await tab.waitForURL(`**/ui/jobs/${batch.jobs[0]}`);
      expect(await tab.locator("video").getAttribute("src")).toBe(job.body.result.url);
      expect(await tab.locator("video").getAttribute("controls")).not.toBeNull();
      expect(await tab.locator("dd pre").first().textContent()).toBe(XSS_PROMPT);
      await tab.screenshot({ path: path.join(REPO_ROOT, ".artifacts", "ui-job.png"), fullPage: true, animations: "disabled" });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
