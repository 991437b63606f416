import type { ResolveAll } from "@kex/core";

/**
 * A DNS resolver from a table, for SSRF tests: no test ever asks real DNS. Unknown names fail like
 * getaddrinfo does (ENOTFOUND); `calls` records every name asked, in order.
 */
export function tableResolver(map: Record<string, string[]>): ResolveAll & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const addresses = map[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}
