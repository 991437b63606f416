import http from "node:http";
import type { AddressInfo } from "node:net";
import { createKlingClient } from "../src/client";

const FRESH_VIDEO = "123456789012345678";

describe("kling client against a server that never answers", () => {
  let server: http.Server;
  let url: string;
  beforeEach(async () => {
    server = http.createServer(() => {
      /* hold the request open forever */
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });

  it("gives up after timeoutMs with httpStatus 0", async () => {
    const client = createKlingClient({ baseUrl: url, pathPrefix: "/kling", auth: { mode: "static", apiKey: "k" }, timeoutMs: 80 });
    const started = Date.now();
    const result = await client.createTask({ video_id: FRESH_VIDEO, prompt: "p" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    expect(result).toEqual({ ok: false, httpStatus: 0, code: null, message: "timeout: no complete answer within 80 ms" });
  });
});
