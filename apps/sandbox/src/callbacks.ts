import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { chance, type Random } from "@kex/core";
import { Webhook } from "standardwebhooks";
import type { SandboxOptions } from "./options";

export interface CallbackCounters {
  /** Deliveries answered 2xx (each copy of a duplicate counts). */
  callbacksSent: number;
  /** Callbacks the drop knob swallowed. */
  callbacksDropped: number;
  /** Deliveries given up after every retry failed. */
  callbacksFailed: number;
  /** HTTP POSTs made, retries included. */
  callbackAttempts: number;
  /** Callbacks the duplicate knob sent twice. */
  callbacksDuplicated: number;
  /** Callbacks the reorder knob held back behind the task's next one. */
  callbacksReordered: number;
  /** Deliveries made by `replay` (the control plane's replay route). */
  callbacksReplayed: number;
}

export function emptyCallbackCounters(): CallbackCounters {
  return {
    callbacksSent: 0,
    callbacksDropped: 0,
    callbacksFailed: 0,
    callbackAttempts: 0,
    callbacksDuplicated: 0,
    callbacksReordered: 0,
    callbacksReplayed: 0,
  };
}

export interface CallbackSenderDeps {
  options: () => SandboxOptions;
  random: () => Random;
  /** The sandbox clock (ms), for `webhook-timestamp`. */
  now: () => number;
  counters: CallbackCounters;
  /** Aborted on reset/close: pending waits end and requests are cancelled, nothing more is counted. */
  signal: AbortSignal;
}

interface Outgoing {
  url: string;
  /** Serialized once: every copy, retry and replay sends (and signs) the same bytes. */
  body: string;
  /** `webhook-id`: one per callback, kept by its duplicates, retries and replays (as Standard Webhooks says). */
  webhookId: string;
  taskId: string;
  copies: number;
}

/** What `replay` re-sent. */
export interface ReplayResult {
  taskId: string;
  webhookId: string;
  delivered: boolean;
}

interface TaskQueue {
  /** Deliveries of one task run one after another, so without the reorder knob they arrive in order. */
  chain: Promise<void>;
  held: Outgoing[];
}

export interface CallbackSender {
  /** Fire and forget: applies the fault knobs, then queues the delivery behind the task's earlier callbacks. */
  emit(taskId: string, url: string, body: object, isFinal: boolean): void;
  /**
   * Sends the last callback delivered (of `taskId`, or of any task) once more, with the same `webhook-id` and body,
   * signed anew for the current time. null when there is nothing to replay.
   */
  replay(taskId?: string): Promise<ReplayResult | null>;
  /** Deliveries queued or running. */
  pending(): number;
  /** Resolves when everything queued so far has been delivered, failed or aborted. */
  settled(): Promise<void>;
}

export function createCallbackSender(deps: CallbackSenderDeps): CallbackSender {
  const queues = new Map<string, TaskQueue>();
  const running = new Set<Promise<void>>();
  const { counters, signal } = deps;
  /** The last delivered callback, per task and overall, for `replay`. */
  const lastDelivered = new Map<string, Outgoing>();
  let lastOverall: Outgoing | null = null;

  function headersFor(item: Outgoing): Record<string, string> {
    const options = deps.options();
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (options.webhookSecrets.length === 0) return headers;
    const sentAt = new Date(deps.now() + options.webhookTimestampOffsetMs);
    headers["webhook-id"] = item.webhookId;
    headers["webhook-timestamp"] = String(Math.floor(sentAt.getTime() / 1000));
    headers["webhook-signature"] = options.webhookSecrets
      .map((secret) => new Webhook(secret).sign(item.webhookId, sentAt, item.body))
      .join(" ");
    return headers;
  }

  async function deliverOnce(item: Outgoing): Promise<boolean> {
    const options = deps.options();
    counters.callbackAttempts++;
    try {
      const response = await fetch(item.url, {
        method: "POST",
        headers: headersFor(item),
        body: item.body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.callbackTimeoutMs)]),
      });
      await response.arrayBuffer(); // drain, so the connection can be reused
      return response.ok;
    } catch {
      return false;
    }
  }

  /** Resolves true when the callback was answered 2xx (after retries), false when given up or aborted. */
  async function deliver(item: Outgoing, withDelay = true): Promise<boolean> {
    const { callbackDelayMs, callbackRetries, callbackRetryBaseMs } = deps.options();
    try {
      if (withDelay && callbackDelayMs > 0) await delay(callbackDelayMs, undefined, { signal });
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) return false;
        if (await deliverOnce(item)) {
          if (signal.aborted) return false;
          counters.callbacksSent++;
          lastDelivered.set(item.taskId, item);
          lastOverall = item;
          return true;
        }
        if (signal.aborted) return false;
        if (attempt >= callbackRetries) {
          counters.callbacksFailed++;
          return false;
        }
        await delay(callbackRetryBaseMs * 2 ** attempt, undefined, { signal });
      }
    } catch {
      // aborted while waiting: the sandbox was reset or closed
      return false;
    }
  }

  function enqueue(taskId: string, queue: TaskQueue, items: Outgoing[], isFinal: boolean): void {
    const work = queue.chain.then(async () => {
      for (const item of items) for (let i = 0; i < item.copies; i++) await deliver(item);
    });
    queue.chain = work;
    const tracked = work.finally(() => {
      running.delete(tracked);
      if (isFinal && queues.get(taskId)?.chain === work) queues.delete(taskId);
    });
    running.add(tracked);
  }

  return {
    emit(taskId, url, body, isFinal) {
      if (signal.aborted) return;
      const options = deps.options();
      const random = deps.random();
      let queue = queues.get(taskId);
      if (!queue) {
        queue = { chain: Promise.resolve(), held: [] };
        queues.set(taskId, queue);
      }

      const dropped = chance(random, options.callbackDropRate);
      if (dropped) counters.callbacksDropped++;
      const items: Outgoing[] = [];
      if (!dropped) {
        const copies = chance(random, options.callbackDuplicateRate) ? 2 : 1;
        if (copies === 2) counters.callbacksDuplicated++;
        const outgoing: Outgoing = { url, body: JSON.stringify(body), webhookId: `msg_${randomUUID()}`, taskId, copies };
        // The last callback of a task has no "next one" to hide behind, so it is never held.
        if (!isFinal && chance(random, options.callbackReorderRate)) {
          counters.callbacksReordered++;
          queue.held.push(outgoing);
          return;
        }
        items.push(outgoing);
      }
      if (dropped && !isFinal) return;
      // Whatever was held back goes out right after this one, latest first.
      items.push(...queue.held.splice(0).reverse());
      if (items.length > 0) enqueue(taskId, queue, items, isFinal);
      else if (isFinal) queues.delete(taskId);
    },
    async replay(taskId) {
      const item = taskId === undefined ? lastOverall : lastDelivered.get(taskId);
      if (!item || signal.aborted) return null;
      const work = deliver({ ...item, copies: 1 }, false);
      const tracked = work.then(() => undefined).finally(() => running.delete(tracked));
      running.add(tracked);
      const delivered = await work;
      if (delivered) counters.callbacksReplayed++;
      return { taskId: item.taskId, webhookId: item.webhookId, delivered };
    },
    pending: () => running.size,
    settled: async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
