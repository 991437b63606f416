import type { Redis } from "ioredis";
import type { Pool } from "pg";

export interface AccountPause {
  code: number;
  message: string;
  until: string;
}

/**
 * "This upstream account is paused" (1100-1102: account exception, arrears, resource pack used up),
 * kept per account (by its name in the accounts registry: one account's pause never stops another's
 * jobs) and shared by every process through the queue backend: it ends by itself after the interval,
 * and `/readyz` reports it meanwhile. One implementation per queue backend, with the same contract tests.
 */
export interface AccountPauseStore {
  pause(account: string, args: { code: number; message: string; durationMs: number; now?: Date }): Promise<AccountPause>;
  /** The account's pause in force, or null once it has expired or was cleared. */
  current(account: string): Promise<AccountPause | null>;
  clear(account: string): Promise<void>;
}

function pauseOf(args: { code: number; message: string; durationMs: number; now?: Date }): AccountPause {
  const now = args.now ?? new Date();
  return { code: args.code, message: args.message, until: new Date(now.getTime() + args.durationMs).toISOString() };
}

/** One Redis key with a TTL per account (`<prefix>:account-pause:<account>`). */
export class RedisAccountPauseStore implements AccountPauseStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(account: string): string {
    return `${this.prefix}:account-pause:${account}`;
  }

  async pause(account: string, args: { code: number; message: string; durationMs: number; now?: Date }): Promise<AccountPause> {
    const pause = pauseOf(args);
    await this.redis.set(this.key(account), JSON.stringify(pause), "PX", Math.max(1, args.durationMs));
    return pause;
  }

  async current(account: string): Promise<AccountPause | null> {
    const raw = await this.redis.get(this.key(account));
    return raw ? (JSON.parse(raw) as AccountPause) : null;
  }

  async clear(account: string): Promise<void> {
    await this.redis.del(this.key(account));
  }
}

/**
 * One row per account (`key` = the account's name) of `<schema>.kex_account_pause` with an expiry on the database's clock, like the Redis
 * key's TTL: a pause past `expires_at` is never read, and the next pause overwrites it.
 */
export class PostgresAccountPauseStore implements AccountPauseStore {
  private readonly table: string;
  constructor(
    private readonly pool: Pool,
    quotedSchema: string,
  ) {
    this.table = `${quotedSchema}.kex_account_pause`;
  }

  /** The table, in the queue backend's schema; run once at start (idempotent). */
  static createTableSql(quotedSchema: string): string {
    return `CREATE TABLE IF NOT EXISTS ${quotedSchema}.kex_account_pause (
      key text PRIMARY KEY,
      pause jsonb NOT NULL,
      expires_at timestamptz NOT NULL
    )`;
  }

  async pause(account: string, args: { code: number; message: string; durationMs: number; now?: Date }): Promise<AccountPause> {
    const pause = pauseOf(args);
    await this.pool.query(
      `INSERT INTO ${this.table} (key, pause, expires_at) VALUES ($3, $1, clock_timestamp() + make_interval(secs => $2::float8 / 1000))
       ON CONFLICT (key) DO UPDATE SET pause = EXCLUDED.pause, expires_at = EXCLUDED.expires_at`,
      [JSON.stringify(pause), Math.max(1, args.durationMs), account],
    );
    return pause;
  }

  async current(account: string): Promise<AccountPause | null> {
    const { rows } = await this.pool.query<{ pause: AccountPause }>(
      `SELECT pause FROM ${this.table} WHERE key = $1 AND expires_at > clock_timestamp()`,
      [account],
    );
    return rows[0]?.pause ?? null;
  }

  async clear(account: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.table} WHERE key = $1`, [account]);
  }
}
