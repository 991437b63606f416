import type { Redis } from "ioredis";

export interface AccountPause {
  code: number;
  message: string;
  until: string;
}

/**
 * "The upstream account is paused" (1100-1102: account exception, arrears, resource pack used up),
 * shared by every process through one Redis key with a TTL: it ends by itself after the interval,
 * and `/readyz` reports it meanwhile.
 */
export class AccountPauseStore {
  private readonly key: string;
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:account-pause`;
  }

  async pause(args: { code: number; message: string; durationMs: number; now?: Date }): Promise<AccountPause> {
    const now = args.now ?? new Date();
    const pause: AccountPause = {
      code: args.code,
      message: args.message,
      until: new Date(now.getTime() + args.durationMs).toISOString(),
    };
    await this.redis.set(this.key, JSON.stringify(pause), "PX", Math.max(1, args.durationMs));
    return pause;
  }

  async current(): Promise<AccountPause | null> {
    const raw = await this.redis.get(this.key);
    return raw ? (JSON.parse(raw) as AccountPause) : null;
  }

  async clear(): Promise<void> {
    await this.redis.del(this.key);
  }
}
