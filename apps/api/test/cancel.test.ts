import { getJobEvents } from "@kex/db";
import request from "supertest";
import { auth, startApiHarness, validItem, type ApiHarness } from "./helpers";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(() => h.close());

const post = (path: string) => request(h.api.url).post(path).set(auth);

describe("POST /v1/extensions/:id/cancel", () => {
  it("cancels a queued job, records it, and refuses a second cancel with 409", async () => {
    const job = (await post("/v1/extensions").send(validItem(1))).body;
    const res = await post(`/v1/extensions/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: job.id, status: "canceled", error: { code: "canceled" } });
    expect(res.body.finished_at).not.toBeNull();
    const events = await getJobEvents(h.api.db, job.id);
    expect(events.at(-1)).toMatchObject({ source: "api", type: "cancel_requested", fromStatus: "queued", toStatus: "canceled" });

    const again = await post(`/v1/extensions/${job.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "already_finished", details: { status: "canceled" } });
  });

  it("answers 409 for a job that already succeeded, and leaves it alone", async () => {
    const job = (await post("/v1/extensions").send(validItem(2))).body;
    await h.api.db.prisma.job.update({ where: { id: job.id }, data: { status: "succeeded" } });
    const res = await post(`/v1/extensions/${job.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/already finished \(succeeded\)/);
    expect((await h.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).status).toBe("succeeded");
  });

  it.each(["0b7f6f8e-1111-4222-8333-444455556666", "nope"])("404 for unknown id %s", async (id) => {
    const res = await post(`/v1/extensions/${id}/cancel`);
    expect(res.status).toBe(404);
  });

  it("requires the API key", async () => {
    const res = await request(h.api.url).post("/v1/extensions/0b7f6f8e-1111-4222-8333-444455556666/cancel");
    expect(res.status).toBe(401);
  });
});

describe("POST /v1/batches/:id/cancel", () => {
  it("cancels every unfinished job in one go and keeps finished ones", async () => {
    const batch = (await post("/v1/batches").send({ items: [validItem(1), validItem(2), validItem(3), validItem(4), validItem(5)] })).body;
    await h.api.db.prisma.job.update({ where: { id: batch.jobs[0] }, data: { status: "succeeded" } });
    await h.api.db.prisma.job.update({ where: { id: batch.jobs[1] }, data: { status: "processing" } });
    const res = await post(`/v1/batches/${batch.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: batch.id, canceled: 4, done: true, counts: { succeeded: 1, canceled: 4, queued: 0, processing: 0 } });
    const events = await getJobEvents(h.api.db, batch.jobs[1]);
    expect(events.at(-1)).toMatchObject({ type: "cancel_requested", fromStatus: "processing", toStatus: "canceled", detail: "batch canceled" });

    const again = await post(`/v1/batches/${batch.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("already_finished");
  });

  it.each(["0b7f6f8e-1111-4222-8333-444455556666", "nope"])("404 for unknown batch %s", async (id) => {
    expect((await post(`/v1/batches/${id}/cancel`)).status).toBe(404);
  });
});
