import { promises as dnsPromises } from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import ipaddr from "ipaddr.js";

/**
 * SSRF guard for outbound webhooks: a destination is refused when its host is, or resolves to, an
 * address that is not public unicast (loopback, RFC 1918 private, link-local incl. the cloud metadata
 * address 169.254.169.254, unspecified, CGNAT 100.64/10, unique-local fc00::/7, multicast, reserved,
 * and IPv6 forms that embed an IPv4 address such as ::ffff:10.0.0.1). Deny by default: anything
 * ipaddr.js does not call `unicast` is refused. One blocked address among several refuses the host,
 * so a name cannot smuggle a private address in next to a public one.
 */

/** A resolved address, as `dns.lookup(host, {all: true})` gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a hostname to all of its addresses (injectable: tests map names to whatever they need). */
export type ResolveAll = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (`dns.lookup`, so /etc/hosts counts, as it does for a connection). */
export const systemResolveAll: ResolveAll = (hostname) => dnsPromises.lookup(hostname, { all: true, verbatim: true });

export interface AddressClass {
  /** ipaddr.js's range name: `unicast` for a public address, else `loopback`, `private`, `linkLocal`, … */
  range: string;
  blocked: boolean;
}

function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const [hi, lo] = v6.parts.slice(6) as [number, number];
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

/** What kind of address `ip` is, and whether webhooks may go there. An unparseable address is blocked. */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!ipaddr.isValid(bare)) return { range: "invalid", blocked: true };
  let addr = ipaddr.parse(bare);
  if (addr.kind() === "ipv6") {
    const v6 = addr as ipaddr.IPv6;
    // ::ffff:a.b.c.d and the IPv4-translated form ::ffff:0:a.b.c.d reach the IPv4 address: judge that.
    if (v6.isIPv4MappedAddress() || v6.range() === "rfc6145") addr = embeddedIPv4(v6);
    // The deprecated IPv4-compatible form ::a.b.c.d (::/96): nothing public lives there.
    else if (v6.parts.slice(0, 6).every((p) => p === 0) && v6.range() !== "loopback" && v6.range() !== "unspecified") {
      return { range: "ipv4Compatible", blocked: true };
    }
  }
  const range = addr.range();
  return { range, blocked: range !== "unicast" };
}

export function isBlockedAddress(ip: string): boolean {
  return classifyAddress(ip).blocked;
}

/** A destination refused by the guard. `code` is stable (`ssrf_blocked`); the message says which address and why. */
export class SsrfBlockedError extends Error {
  readonly code = "ssrf_blocked";
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(
      hostname === address
        ? `destination ${address} is a ${range} address; webhooks only go to public addresses`
        : `destination ${hostname} resolves to ${address}, a ${range} address; webhooks only go to public addresses`,
    );
    this.name = "SsrfBlockedError";
  }
}

/** The URL's host without IPv6 brackets (WHATWG parsing already turned `0x7f.1` or `2130706433` into 127.0.0.1). */
export function urlHostname(url: string | URL): string {
  return (typeof url === "string" ? new URL(url) : url).hostname.replace(/^\[|\]$/g, "");
}

/** `localhost` and `*.localhost` always mean this machine (RFC 6761), whatever a resolver says. */
function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}

/** Resolves `hostname` (an IP literal stands for itself) and throws SsrfBlockedError if any address is blocked. */
export async function resolveAllowedAddresses(hostname: string, resolve: ResolveAll = systemResolveAll): Promise<ResolvedAddress[]> {
  if (ipaddr.isValid(hostname)) {
    const { range, blocked } = classifyAddress(hostname);
    if (blocked) throw new SsrfBlockedError(hostname, hostname, range);
    return [{ address: hostname, family: ipaddr.parse(hostname).kind() === "ipv6" ? 6 : 4 }];
  }
  if (isLocalhostName(hostname)) throw new SsrfBlockedError(hostname, "127.0.0.1", "loopback");
  const addresses = await resolve(hostname);
  if (addresses.length === 0) throw Object.assign(new Error(`${hostname} has no addresses`), { code: "ENOTFOUND" });
  for (const a of addresses) {
    const { range, blocked } = classifyAddress(a.address);
    if (blocked) throw new SsrfBlockedError(hostname, a.address, range);
  }
  return addresses;
}

export type DestinationCheck =
  | { ok: true }
  | { ok: false; reason: "blocked"; error: SsrfBlockedError }
  | { ok: false; reason: "unresolved"; error: Error };

/**
 * Submission-time check of a callback URL. `unresolved` (no such name, resolver down or slower than
 * `timeoutMs`) is not a refusal: the name may resolve later, and the connect-time guard checks again
 * before any byte is sent, so this check only has to catch what is already known to be internal.
 */
export async function checkDestination(
  url: string,
  options: { resolve?: ResolveAll; timeoutMs?: number } = {},
): Promise<DestinationCheck> {
  const hostname = urlHostname(url);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`resolving ${hostname} took longer than ${options.timeoutMs ?? 2000} ms`), { code: "ETIMEOUT" })), options.timeoutMs ?? 2000);
  });
  try {
    await Promise.race([resolveAllowedAddresses(hostname, options.resolve), timeout]);
    return { ok: true };
  } catch (err) {
    if (err instanceof SsrfBlockedError) return { ok: false, reason: "blocked", error: err };
    return { ok: false, reason: "unresolved", error: err as Error };
  } finally {
    clearTimeout(timer);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect` / undici's `connect.lookup`: resolves with `resolve`, refuses (with
 * SsrfBlockedError, before any connection is attempted) when any address is blocked, and otherwise
 * hands the connection exactly the addresses it checked, so a DNS answer that changes between the
 * check and the connect (rebinding) cannot slip through. Node does not call `lookup` for an IP
 * literal host: check those with `resolveAllowedAddresses` before connecting.
 */
export function guardedLookup(resolve: ResolveAll = systemResolveAll) {
  return (hostname: string, options: LookupOptions | number | undefined, callback: LookupCallback): void => {
    const opts: LookupOptions = typeof options === "number" ? { family: options } : (options ?? {});
    resolveAllowedAddresses(hostname, resolve).then(
      (addresses) => {
        const family = opts.family === "IPv4" ? 4 : opts.family === "IPv6" ? 6 : opts.family;
        const wanted = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: "ENOTFOUND" }), "");
        } else if (opts.all) {
          callback(null, wanted.map((a) => ({ address: a.address, family: a.family })));
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ""),
    );
  };
}
