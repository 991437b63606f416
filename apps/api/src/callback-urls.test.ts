import { tableResolver } from "@kex/testing";
import { ApiError } from "./errors";
import { batchCallbackUrls, callbackUrlGuard } from "./callback-urls";

const table = tableResolver;

const resolve = table({
  "hooks.public.test": ["93.184.215.14"],
  "internal.test": ["10.0.0.1"],
  "metadata.test": ["169.254.169.254"],
  "loop.test": ["127.0.0.1", "::1"],
});

describe("callbackUrlGuard", () => {
  const guard = callbackUrlGuard({ allowPrivate: false, resolve });

  it("refuses names that resolve to internal addresses, naming each field", async () => {
    const err = await guard([
      { field: "callback_url", url: "https://hooks.public.test/a" },
      { field: "items.0.callback_url", url: "http://internal.test/x" },
      { field: "items.1.callback_url", url: "http://metadata.test/latest/meta-data/" },
      { field: "items.2.callback_url", url: "http://loop.test:8080/" },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 400,
      code: "validation_failed",
      details: [
        { field: "items.0.callback_url", rule: "ssrf_blocked", message: "destination internal.test resolves to 10.0.0.1, a private address; webhooks only go to public addresses" },
        { field: "items.1.callback_url", rule: "ssrf_blocked", message: expect.stringContaining("169.254.169.254, a linkLocal address") },
        { field: "items.2.callback_url", rule: "ssrf_blocked", message: expect.stringContaining("127.0.0.1, a loopback address") },
      ],
    });
  });

  it("accepts public names, and names that do not resolve (yet): the worker checks again before connecting", async () => {
    await expect(guard([{ field: "callback_url", url: "https://hooks.public.test/a" }])).resolves.toBeUndefined();
    await expect(guard([{ field: "callback_url", url: "https://nowhere.test/a" }])).resolves.toBeUndefined();
  });

  it("asks once per host, however many items name it", async () => {
    const counting = table({ "hooks.public.test": ["93.184.215.14"] });
    const fields = Array.from({ length: 1000 }, (_, i) => ({ field: `items.${i}.callback_url`, url: `https://hooks.public.test/job/${i}` }));
    await callbackUrlGuard({ allowPrivate: false, resolve: counting })(fields);
    expect(counting.calls).toEqual(["hooks.public.test"]);
  });

  it("with allowPrivate, checks nothing", async () => {
    const counting = table({});
    await callbackUrlGuard({ allowPrivate: true, resolve: counting })([{ field: "callback_url", url: "http://10.0.0.1/" }]);
    expect(counting.calls).toEqual([]);
  });
});

describe("batchCallbackUrls", () => {
  it("names the batch default and each item's own", () => {
    expect(
      batchCallbackUrls({
        callback_url: "https://a.test/",
        items: [
          { video_id: "1", prompt: "p" },
          { video_id: "2", prompt: "p", callback_url: "https://b.test/" },
        ],
      }),
    ).toEqual([
      { field: "callback_url", url: "https://a.test/" },
      { field: "items.1.callback_url", url: "https://b.test/" },
    ]);
  });
});
