import http from "node:http";
import { createFile, type Movie } from "mp4box";
import { buildMp4, startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, adminPost } from "./helpers";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Parses a whole file with mp4box and returns the movie info (throws if it never becomes ready). */
function parseMp4(bytes: Buffer): { info: Movie; boxes: string[] } {
  const file = createFile();
  let info: Movie | undefined;
  let error: unknown;
  file.onReady = (movie) => (info = movie);
  file.onError = (_module, message) => (error = message);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer & { fileStart: number };
  buffer.fileStart = 0;
  file.appendBuffer(buffer);
  file.flush();
  if (error !== undefined || info === undefined) throw new Error(`not a readable MP4: ${String(error ?? "never ready")}`);
  return { info, boxes: file.boxes.map((box) => box.type ?? "") };
}

/** A download through node:http, so a cut connection shows as what it is rather than a fetch error string. */
function download(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      const done = (error?: string) =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), error });
      response.on("end", () => done());
      response.on("error", (err) => done(err.message));
      response.on("aborted", () => done("aborted"));
    });
    request.on("error", (err) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

describe("sandbox result videos: real MP4 files and download faults", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;
  let videoUrl: string;

  beforeEach(async () => {
    sandbox = await startSandbox({ ...FAST });
    client = new SandboxClient(sandbox);
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
    const done = await client.waitFinished(created.body.data.task_id);
    videoUrl = done.task_result.videos[0].url;
  });
  afterEach(() => sandbox.close());

  it("builds a valid ISO BMFF file of a few KB: ftyp + moov + mdat, one H.264 track of 10 frames", () => {
    const bytes = buildMp4();
    expect(bytes.length).toBeGreaterThan(1000);
    expect(bytes.length).toBeLessThan(10_000);
    const { info, boxes } = parseMp4(bytes);
    expect(boxes).toEqual(["ftyp", "moov", "mdat"]);
    expect(info.tracks).toHaveLength(1);
    expect(info.tracks[0]).toMatchObject({ codec: "avc1.42c00a", nb_samples: 10, video: { width: 32, height: 32 } });
    expect(info.duration / info.timescale).toBe(1);
    // The size boxes declare adds up to the file.
    let offset = 0;
    while (offset < bytes.length) offset += bytes.readUInt32BE(offset);
    expect(offset).toBe(bytes.length);
  });

  it("serves that file for result URLs, watermarked ones and source videos", async () => {
    const expected = buildMp4();
    for (const url of [videoUrl, videoUrl.replace(/\.mp4$/, "-wm.mp4"), `${sandbox.url}/videos/${FRESH_VIDEO}.mp4`]) {
      const answer = await download(url);
      expect({ url, status: answer.status, type: answer.headers["content-type"] }).toEqual({ url, status: 200, type: "video/mp4" });
      expect(Number(answer.headers["content-length"])).toBe(expected.length);
      expect(answer.body.equals(expected)).toBe(true);
      expect(parseMp4(answer.body).info.tracks).toHaveLength(1);
    }
    expect(sandbox.stats()).toMatchObject({ downloadRequests: 3, downloadsServed: 3 });
  });

  it("downloadErrorRate 1: HTTP 500", async () => {
    await adminPost(sandbox, "options", { downloadErrorRate: 1 });
    const answer = await download(videoUrl);
    expect(answer.status).toBe(500);
    expect(sandbox.stats()).toMatchObject({ downloadsFailed500: 1, downloadsServed: 0 });
  });

  it("downloadResetRate 1: the connection is reset before any answer", async () => {
    await adminPost(sandbox, "options", { downloadResetRate: 1 });
    const answer = await download(videoUrl);
    expect(answer.status).toBe(0);
    expect(answer.error).toMatch(/ECONNRESET|socket hang up/);
    expect(sandbox.stats()).toMatchObject({ downloadsReset: 1, downloadsServed: 0 });
  });

  it("downloadTruncateRate 1: the full Content-Length is announced, half the bytes arrive, the connection drops", async () => {
    await adminPost(sandbox, "options", { downloadTruncateRate: 1 });
    const full = buildMp4().length;
    const answer = await download(videoUrl);
    expect(answer.status).toBe(200);
    expect(Number(answer.headers["content-length"])).toBe(full);
    expect(answer.body.length).toBe(Math.floor(full / 2));
    expect(answer.error).toBeDefined();
    // moov comes first, so what is missing is the media data: the mdat box claims more bytes than arrived.
    let offset = 0;
    while (offset + 8 <= answer.body.length) offset += answer.body.readUInt32BE(offset);
    expect(offset).toBeGreaterThan(answer.body.length);
    // fetch sees the cut as an error while reading the body.
    const response = await fetch(videoUrl);
    await expect(response.arrayBuffer()).rejects.toThrow();
    expect(sandbox.stats()).toMatchObject({ downloadsTruncated: 2, downloadsServed: 0 });
  });

  it("downloadDelayMs and downloadChunkDelayMs make a slow download that still arrives whole", async () => {
    const full = buildMp4();
    const chunks = Math.ceil(full.length / 1024);
    await adminPost(sandbox, "options", { downloadDelayMs: 100, downloadChunkDelayMs: 60 });
    const started = Date.now();
    const answer = await download(videoUrl);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100 + 60 * (chunks - 1) - 5);
    expect(answer.body.equals(full)).toBe(true);
  });

  it("lets result URLs expire 30 days after generation, following clockOffsetMs at run time", async () => {
    // The video was made moments ago on the real clock: 5 s short of 30 days it is there, 5 s past it is gone.
    await adminPost(sandbox, "options", { clockOffsetMs: 30 * DAY_MS - 5000 });
    expect((await download(videoUrl)).status).toBe(200);
    await adminPost(sandbox, "options", { clockOffsetMs: 30 * DAY_MS + 5000 });
    expect((await download(videoUrl)).status).toBe(404);
    // The same clock refuses extending the expired video.
    const id = videoUrl.split("/").at(-1)!.replace(".mp4", "");
    expect((await client.create({ video_id: id, prompt: "p" })).body.code).toBe(1203);
    expect((await download(`${sandbox.url}/videos/111111111111111111.mp4`)).status).toBe(404);
  });
});
