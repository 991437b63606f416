import type { LookupAddress } from "node:dns";
import { checkDestination, classifyAddress, guardedLookup, resolveAllowedAddresses, SsrfBlockedError, systemResolveAll, urlHostname, type ResolveAll } from "./ssrf";

/** A resolver from a table: no DNS traffic in these tests. */
const table =
  (map: Record<string, string[]>): ResolveAll =>
  async (hostname) => {
    const addresses = map[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

describe("classifyAddress", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.1.2", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.254", "private"],
    ["192.168.1.20", "private"],
    ["169.254.169.254", "linkLocal"],
    ["169.254.0.1", "linkLocal"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd00:ec2::254", "uniqueLocal"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.100.100.200", "carrierGradeNat"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "linkLocal"],
    ["::ffff:0:10.0.0.1", "private"],
    ["::7f00:1", "ipv4Compatible"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["64:ff9b::a00:1", "rfc6052"],
    ["[::1]", "loopback"],
    ["not an address", "invalid"],
  ])("%s is %s and blocked", (ip, range) => {
    expect(classifyAddress(ip)).toEqual({ range, blocked: true });
  });

  it.each(["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"])("%s is public", (ip) => {
    expect(classifyAddress(ip)).toEqual({ range: "unicast", blocked: false });
  });
});

describe("urlHostname", () => {
  it("takes the host as WHATWG URL parsing normalizes it", () => {
    expect(urlHostname("http://[::1]:8080/x")).toBe("::1");
    expect(urlHostname("http://2130706433/")).toBe("127.0.0.1");
    expect(urlHostname("http://0x7f.1/")).toBe("127.0.0.1");
    expect(urlHostname("https://Hooks.Example.COM/a")).toBe("hooks.example.com");
  });
});

describe("resolveAllowedAddresses", () => {
  const resolve = table({
    "public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "internal.test": ["10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.215.14", "192.168.0.10"],
    "loop.test": ["127.0.0.1"],
  });

  it("returns every address of a public name", async () => {
    await expect(resolveAllowedAddresses("public.test", resolve)).resolves.toHaveLength(2);
  });

  it.each([
    ["internal.test", "10.0.0.1", "private"],
    ["metadata.test", "169.254.169.254", "linkLocal"],
    ["mixed.test", "192.168.0.10", "private"],
    ["loop.test", "127.0.0.1", "loopback"],
    ["10.0.0.1", "10.0.0.1", "private"],
    ["localhost", "127.0.0.1", "loopback"],
    ["api.localhost", "127.0.0.1", "loopback"],
  ])("refuses %s (%s, %s)", async (hostname, address, range) => {
    const err = await resolveAllowedAddresses(hostname, resolve).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SsrfBlockedError);
    expect(err).toMatchObject({ code: "ssrf_blocked", hostname, address, range });
  });

  it("localhost is refused without asking a resolver, and the system resolver agrees it is loopback", async () => {
    await expect(resolveAllowedAddresses("localhost", table({}))).rejects.toBeInstanceOf(SsrfBlockedError);
    const addresses = await systemResolveAll("localhost");
    expect(addresses.length).toBeGreaterThan(0);
    for (const a of addresses) expect(classifyAddress(a.address)).toEqual({ range: "loopback", blocked: true });
  });
});

describe("checkDestination", () => {
  const resolve = table({ "internal.test": ["10.1.2.3"], "public.test": ["93.184.215.14"] });

  it("blocked, allowed, unresolved", async () => {
    expect(await checkDestination("http://internal.test/hook", { resolve })).toMatchObject({ ok: false, reason: "blocked" });
    expect(await checkDestination("http://169.254.169.254/latest/meta-data", { resolve })).toMatchObject({ ok: false, reason: "blocked" });
    expect(await checkDestination("https://public.test/hook", { resolve })).toEqual({ ok: true });
    expect(await checkDestination("https://nowhere.test/hook", { resolve })).toMatchObject({ ok: false, reason: "unresolved" });
  });

  it("a resolver slower than the timeout counts as unresolved, not blocked", async () => {
    const slow: ResolveAll = () => new Promise((r) => setTimeout(() => r([{ address: "10.0.0.1", family: 4 }]), 200));
    expect(await checkDestination("http://slow.test/", { resolve: slow, timeoutMs: 20 })).toMatchObject({ ok: false, reason: "unresolved" });
  });
});

describe("guardedLookup (connect time)", () => {
  const lookup = guardedLookup(table({ "public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], "internal.test": ["10.0.0.1"] }));
  const call = (hostname: string, options: Parameters<typeof lookup>[1]) =>
    new Promise<{ err: Error | null; address: string | LookupAddress[]; family?: number }>((resolve) =>
      lookup(hostname, options, (err, address, family) => resolve({ err, address, family })),
    );

  it("hands back exactly the checked addresses, in the shape net asks for", async () => {
    expect(await call("public.test", { all: true })).toEqual({
      err: null,
      address: [
        { address: "93.184.215.14", family: 4 },
        { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
      ],
      family: undefined,
    });
    expect(await call("public.test", {})).toEqual({ err: null, address: "93.184.215.14", family: 4 });
    expect(await call("public.test", { family: 6 })).toEqual({ err: null, address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 });
  });

  it("refuses a name that resolves to a blocked address", async () => {
    const { err } = await call("internal.test", { all: true });
    expect(err).toBeInstanceOf(SsrfBlockedError);
    expect(err?.message).toBe("destination internal.test resolves to 10.0.0.1, a private address; webhooks only go to public addresses");
  });
});
