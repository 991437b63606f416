import { HttpUrlSchema } from "@kex/contract";
import { UsageError } from "./errors";

export const DEFAULT_API_URL = "http://127.0.0.1:3000";

/** Where the API is and how to authenticate. The token is never printed. */
export interface Connection {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:3000`. */
  url: string;
  token: string;
}

export interface EnvDefaults {
  url: string;
  /** Where `url` came from: the `KEX_URL` variable, or the built-in default. */
  urlSource: "KEX_URL" | "default";
  token: string | undefined;
}

/** The environment's defaults for the global flags: `KEX_URL`, `KEX_TOKEN`. The only reader of `process.env`. */
export function readEnvDefaults(env: NodeJS.ProcessEnv = process.env): EnvDefaults {
  return { url: env.KEX_URL || DEFAULT_API_URL, urlSource: env.KEX_URL ? "KEX_URL" : "default", token: env.KEX_TOKEN || undefined };
}

/**
 * Flags win over the environment. Throws a usage error (exit 2) naming what is missing or wrong, and where
 * the wrong value came from (the `--url` flag or the `KEX_URL` variable).
 */
export function resolveConnection(flags: { url?: string; token?: string }, env: EnvDefaults = readEnvDefaults()): Connection {
  const url = (flags.url ?? env.url).replace(/\/+$/, "");
  if (!HttpUrlSchema.safeParse(url).success) {
    const source = flags.url !== undefined ? "--url" : env.urlSource === "KEX_URL" ? "KEX_URL" : "the default API URL";
    throw new UsageError(`${source} must be an absolute http(s) URL such as ${DEFAULT_API_URL} (got ${JSON.stringify(url)})`);
  }
  const token = flags.token ?? env.token;
  if (!token) throw new UsageError("no API token: set KEX_TOKEN (or pass --token)");
  return { url, token };
}
