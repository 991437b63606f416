import http from "node:http";

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON when the answer says it is JSON. */
  json: unknown;
}

export interface RawRequest {
  method?: string;
  /** Sent byte for byte as written (HTTP clients would re-encode it). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /**
   * Leave the request body unfinished: the answer must come while the client is still sending, which is
   * how a test sees that the server refused a body early instead of reading all of it first.
   */
  keepOpen?: boolean;
  /** Give up waiting for an answer after this long (default 10 s). */
  timeoutMs?: number;
}

/** One request over a fresh connection, with full control of the bytes (supertest re-encodes and buffers). */
export function sendRaw(baseUrl: string, request: RawRequest): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  const timeoutMs = request.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: request.method ?? "GET", path: request.path, headers: request.headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${request.method ?? "GET"} ${request.path}${request.keepOpen ? " while its body was still being sent" : ""}`));
    }, timeoutMs);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        if (request.keepOpen) req.destroy();
        const text = Buffer.concat(chunks).toString("utf8");
        const json = /^application\/json/.test(String(res.headers["content-type"] ?? "")) ? JSON.parse(text) : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // After an answer, a reset upload changes nothing (the promise is settled).
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (request.body !== undefined) req.write(request.body);
    if (!request.keepOpen) req.end();
  });
}
