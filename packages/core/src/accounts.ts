import { readFileSync } from "node:fs";
import { z } from "zod";

/**
 * Kling accounts: the one registry of the accounts this deployment runs jobs on. A video belongs to the
 * account that generated it (extending it from another fails upstream), so every job is pinned to one
 * account and everything per account (client, in-flight cap, pause, rate limit) is keyed by its name.
 *
 * Configured by a JSON file (`KLING_ACCOUNTS_FILE`) or, without one, by the single-account variables
 * (`KLING_BASE_URL`, `KLING_API_KEY`, …), which make the account `default`. Credentials stay in this
 * process: `toPublic` is the only shape that leaves it, and it carries none.
 */

/** The account the single-account variables define, and the fallback of routing when nothing else decides. */
export const DEFAULT_ACCOUNT = "default";

export const ACCOUNT_MODES = ["static", "jwt"] as const;
export type AccountMode = (typeof ACCOUNT_MODES)[number];

export const AccountNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must be 1-63 characters of a-z, 0-9, `_` and `-`, starting with a letter or digit");

const secretString = z.string().min(1, "must not be empty");

/** One account as the file writes it (snake_case, like the rest of our JSON). */
export const AccountFileEntrySchema = z.strictObject({
  name: AccountNameSchema,
  /** `static`: a bearer key (a proxy); `jwt`: access key + secret key signing HS256 tokens (the official API). */
  mode: z.enum(ACCOUNT_MODES),
  api_key: secretString.optional(),
  access_key: secretString.optional(),
  secret_key: secretString.optional(),
  base_url: z.url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" }),
  /** `/kling` for the proxy, `""` for the official API. */
  path_prefix: z
    .string()
    .regex(/^(\/[^/\s]+)*$/, 'must be empty or start with "/" (no trailing "/")')
    .default("/kling"),
  /** The account's parallel-task limit, shared by every worker; 0 = no cap. */
  max_in_flight: z.number().int().min(0).default(10),
  /** A disabled account takes no new jobs (400 at submission); its queued jobs wait, its running tasks finish. */
  enabled: z.boolean().default(true),
  /** Standard Webhooks secrets upstream signs this account's callbacks with (several during a rotation). */
  callback_secrets: z.array(secretString).default([]),
});
export type AccountFileEntry = z.infer<typeof AccountFileEntrySchema>;

export const AccountsFileSchema = z.strictObject({
  accounts: z.array(AccountFileEntrySchema).min(1, "must list at least one account"),
  /** Where a job goes when neither its request nor its source video names an account. Default: `default`. */
  default: AccountNameSchema.optional(),
});

export type AccountAuth = { mode: "static"; apiKey: string } | { mode: "jwt"; accessKey: string; secretKey: string };

export interface Account {
  name: string;
  mode: AccountMode;
  /** Null where the process was not given credentials (the api: it never calls upstream). */
  auth: AccountAuth | null;
  baseUrl: string;
  pathPrefix: string;
  /** The configured parallel-task ceiling; 0 = no cap. */
  maxInFlight: number;
  enabled: boolean;
  callbackSecrets: string[];
}

/** An account as `GET /v1/accounts` shows it: no credential, no callback secret. */
export interface PublicAccount {
  name: string;
  mode: AccountMode;
  base_url: string;
  path_prefix: string;
  enabled: boolean;
  max_in_flight: number;
  callback_signing: boolean;
}

/** The single-account variables (the worker's and the api's config modules pass them in). */
export interface SingleAccountEnv {
  KLING_BASE_URL: string;
  KLING_PATH_PREFIX: string;
  KLING_MAX_IN_FLIGHT: number;
  KLING_API_KEY?: string | undefined;
  KLING_ACCESS_KEY?: string | undefined;
  KLING_SECRET_KEY?: string | undefined;
}

export class AccountsConfigError extends Error {}

export class AccountRegistry {
  private readonly byName: Map<string, Account>;

  constructor(
    accounts: readonly Account[],
    /** The routing fallback. */
    readonly defaultName: string = DEFAULT_ACCOUNT,
  ) {
    this.byName = new Map(accounts.map((a) => [a.name, a]));
    if (this.byName.size !== accounts.length) throw new AccountsConfigError("account names must be unique");
    if (!this.byName.has(defaultName)) throw new AccountsConfigError(`the default account "${defaultName}" is not configured`);
  }

  get(name: string): Account | undefined {
    return this.byName.get(name);
  }

  all(): Account[] {
    return [...this.byName.values()];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every credential and callback secret, for the logger's redaction. */
  secrets(): string[] {
    const out: string[] = [];
    for (const a of this.byName.values()) {
      if (a.auth?.mode === "static") out.push(a.auth.apiKey);
      if (a.auth?.mode === "jwt") out.push(a.auth.accessKey, a.auth.secretKey);
      out.push(...a.callbackSecrets);
    }
    return out;
  }
}

export function toPublicAccount(account: Account): PublicAccount {
  return {
    name: account.name,
    mode: account.mode,
    base_url: account.baseUrl,
    path_prefix: account.pathPrefix,
    enabled: account.enabled,
    max_in_flight: account.maxInFlight,
    callback_signing: account.callbackSecrets.length > 0,
  };
}

/** Why a job may not run on the account a request or its video points at. */
export type AccountRoutingProblem =
  | { kind: "unknown"; account: string; from: "request" | "owner" }
  | { kind: "disabled"; account: string; from: "request" | "owner" }
  | { kind: "conflict"; named: string; owner: string };

/**
 * Which account a job runs on: the one its request names, else the one that produced its source
 * video, else the default. A named account that is not the video's recorded owner is a conflict
 * (upstream would refuse the extension); an unknown or disabled account is refused.
 */
export function routeToAccount(
  registry: AccountRegistry,
  args: { named?: string | undefined; owner?: string | undefined },
): { ok: true; account: string } | { ok: false; problem: AccountRoutingProblem } {
  const { named, owner } = args;
  if (named !== undefined && owner !== undefined && named !== owner) return { ok: false, problem: { kind: "conflict", named, owner } };
  const from = named !== undefined ? "request" : owner !== undefined ? "owner" : null;
  const name = named ?? owner ?? registry.defaultName;
  const account = registry.get(name);
  if (!account) return { ok: false, problem: { kind: "unknown", account: name, from: from ?? "request" } };
  if (!account.enabled) return { ok: false, problem: { kind: "disabled", account: name, from: from ?? "request" } };
  return { ok: true, account: name };
}

function issuePath(path: readonly PropertyKey[], file: unknown): string {
  // `accounts.1.api_key` → `account "b" (accounts[1]).api_key`: name the account when it has one.
  if (path[0] === "accounts" && typeof path[1] === "number") {
    const entries = (file as { accounts?: unknown[] } | null)?.accounts;
    const entry = Array.isArray(entries) ? (entries[path[1]] as { name?: unknown } | undefined) : undefined;
    const label = typeof entry?.name === "string" ? `account "${entry.name}" (accounts[${path[1]}])` : `accounts[${path[1]}]`;
    return [label, ...path.slice(2).map(String)].join(".");
  }
  return path.map(String).join(".") || "(root)";
}

function authOf(
  entry: { mode: AccountMode; api_key?: string | undefined; access_key?: string | undefined; secret_key?: string | undefined },
  requireCredentials: boolean,
  fields: { apiKey: string; accessKey: string; secretKey: string },
): { auth: AccountAuth | null; problems: Array<{ field: string; message: string }> } {
  const problems: Array<{ field: string; message: string }> = [];
  if (entry.mode === "static") {
    if (entry.access_key !== undefined || entry.secret_key !== undefined) {
      problems.push({ field: fields.accessKey, message: "mode static takes api_key only (access_key/secret_key are for mode jwt)" });
    }
    if (entry.api_key) return { auth: { mode: "static", apiKey: entry.api_key }, problems };
    if (requireCredentials) problems.push({ field: fields.apiKey, message: "required for mode static" });
    return { auth: null, problems };
  }
  if (entry.api_key !== undefined)
    problems.push({ field: fields.apiKey, message: "mode jwt takes access_key and secret_key, not api_key" });
  if (entry.access_key && entry.secret_key)
    return { auth: { mode: "jwt", accessKey: entry.access_key, secretKey: entry.secret_key }, problems };
  if (requireCredentials || entry.access_key !== undefined || entry.secret_key !== undefined) {
    problems.push({
      field: entry.access_key ? fields.secretKey : fields.accessKey,
      message: "mode jwt needs both access_key and secret_key",
    });
  }
  return { auth: null, problems };
}

/** Parses an accounts file's JSON text; errors name the account and the field. */
export function parseAccountsFile(text: string, options: { requireCredentials: boolean; source?: string }): AccountRegistry {
  const source = options.source ?? "accounts file";
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AccountsConfigError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = AccountsFileSchema.safeParse(json);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issuePath(issue.path, json)}: ${issue.message}`);
    throw new AccountsConfigError(`${source} is invalid:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
  const accounts: Account[] = [];
  const seen = new Set<string>();
  parsed.data.accounts.forEach((entry, i) => {
    const label = `account "${entry.name}" (accounts[${i}])`;
    if (seen.has(entry.name)) problems.push(`${label}.name: "${entry.name}" is used by an earlier account`);
    seen.add(entry.name);
    const { auth, problems: authProblems } = authOf(entry, options.requireCredentials, {
      apiKey: "api_key",
      accessKey: "access_key",
      secretKey: "secret_key",
    });
    for (const p of authProblems) problems.push(`${label}.${p.field}: ${p.message}`);
    accounts.push({
      name: entry.name,
      mode: entry.mode,
      auth,
      baseUrl: entry.base_url,
      pathPrefix: entry.path_prefix,
      maxInFlight: entry.max_in_flight,
      enabled: entry.enabled,
      callbackSecrets: entry.callback_secrets,
    });
  });
  const defaultName = parsed.data.default ?? DEFAULT_ACCOUNT;
  if (!seen.has(defaultName)) {
    problems.push(
      parsed.data.default !== undefined
        ? `default: names "${defaultName}", which is not one of the accounts`
        : `default: no account is named "${DEFAULT_ACCOUNT}"; name one of the accounts as the fallback with "default": "<name>"`,
    );
  }
  if (problems.length > 0) throw new AccountsConfigError(`${source} is invalid:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  return new AccountRegistry(accounts, defaultName);
}

/** The account `default` from the single-account variables. */
export function accountFromEnv(env: SingleAccountEnv, options: { requireCredentials: boolean; callbackSecrets?: string[] }): Account {
  const mode: AccountMode = env.KLING_ACCESS_KEY || env.KLING_SECRET_KEY ? "jwt" : "static";
  const { auth, problems } = authOf(
    {
      mode,
      api_key: mode === "static" ? env.KLING_API_KEY : undefined,
      access_key: env.KLING_ACCESS_KEY,
      secret_key: env.KLING_SECRET_KEY,
    },
    options.requireCredentials,
    { apiKey: "KLING_API_KEY", accessKey: "KLING_ACCESS_KEY", secretKey: "KLING_SECRET_KEY" },
  );
  if (problems.length > 0) throw new AccountsConfigError(problems.map((p) => `${p.field}: ${p.message}`).join("\n"));
  return {
    name: DEFAULT_ACCOUNT,
    mode,
    auth,
    baseUrl: env.KLING_BASE_URL,
    pathPrefix: env.KLING_PATH_PREFIX,
    maxInFlight: env.KLING_MAX_IN_FLIGHT,
    enabled: true,
    callbackSecrets: options.callbackSecrets ?? [],
  };
}

/**
 * The registry from the file at `file` when it is set, else the account `default` from the
 * single-account variables. Throws AccountsConfigError with a message naming the account and field.
 * `requireCredentials`: the worker needs them; the api, which never calls upstream, does not.
 */
export function loadAccountRegistry(args: {
  file?: string | undefined;
  env: SingleAccountEnv;
  requireCredentials: boolean;
  /** The single-account form's callback signing secrets (KLING_WEBHOOK_SECRETS); a file names each account's own. */
  callbackSecrets?: string[];
}): AccountRegistry {
  if (args.file) {
    let text: string;
    try {
      text = readFileSync(args.file, "utf8");
    } catch (err) {
      throw new AccountsConfigError(
        `KLING_ACCOUNTS_FILE: cannot read ${args.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    return parseAccountsFile(text, { requireCredentials: args.requireCredentials, source: `KLING_ACCOUNTS_FILE (${args.file})` });
  }
  return new AccountRegistry([accountFromEnv(args.env, { requireCredentials: args.requireCredentials, callbackSecrets: args.callbackSecrets })]);
}
