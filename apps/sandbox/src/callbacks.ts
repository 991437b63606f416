import { setTimeout as delay } from "node:timers/promises";
import { chance, type Random } from "@kex/core";
import type { KlingCallback } from "@kex/kling";
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
}

export function emptyCallbackCounters(): CallbackCounters {
  return {
    callbacksSent: 0,
    callbacksDropped: 0,
    callbacksFailed: 0,
    callbackAttempts: 0,
    callbacksDuplicated: 0,
    callbacksReordered: 0,
  };
}

export interface CallbackSenderDeps {
  options: () => SandboxOptions;
  random: () => Random;
  counters: CallbackCounters;
  /** Aborted on reset/close: pending waits end and requests are cancelled, nothing more is counted. */
  signal: AbortSignal;
}

interface Outgoing {
  url: string;
  body: KlingCallback;
  copies: number;
}

interface TaskQueue {
  /** Deliveries of one task run one after another, so without the reorder knob they arrive in order. */
  chain: Promise<void>;
  held: Outgoing[];
}

export interface CallbackSender {
  /** Fire and forget: applies the fault knobs, then queues the delivery behind the task's earlier callbacks. */
  emit(taskId: string, url: string, body: KlingCallback, isFinal: boolean): void;
  /** Deliveries queued or running. */
  pending(): number;
  /** Resolves when everything queued so far has been delivered, failed or aborted. */
  settled(): Promise<void>;
}

export function createCallbackSender(deps: CallbackSenderDeps): CallbackSender {
  const queues = new Map<string, TaskQueue>();
  const running = new Set<Promise<void>>();
  const { counters, signal } = deps;

  async function deliverOnce(url: string, body: KlingCallback): Promise<boolean> {
    const options = deps.options();
    counters.callbackAttempts++;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.callbackTimeoutMs)]),
      });
      await response.arrayBuffer(); // drain, so the connection can be reused
      return response.ok;
    } catch {
      return false;
    }
  }

  async function deliver(url: string, body: KlingCallback): Promise<void> {
    const { callbackDelayMs, callbackRetries, callbackRetryBaseMs } = deps.options();
    try {
      if (callbackDelayMs > 0) await delay(callbackDelayMs, undefined, { signal });
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) return;
        if (await deliverOnce(url, body)) {
          if (!signal.aborted) counters.callbacksSent++;
          return;
        }
        if (signal.aborted) return;
        if (attempt >= callbackRetries) {
          counters.callbacksFailed++;
          return;
        }
        await delay(callbackRetryBaseMs * 2 ** attempt, undefined, { signal });
      }
    } catch {
      // aborted while waiting: the sandbox was reset or closed
    }
  }

  function enqueue(taskId: string, queue: TaskQueue, items: Outgoing[], isFinal: boolean): void {
    const work = queue.chain.then(async () => {
      for (const item of items) for (let i = 0; i < item.copies; i++) await deliver(item.url, item.body);
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
        const outgoing = { url, body, copies };
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
    pending: () => running.size,
    settled: async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
