import path from "node:path";
import { Worker } from "node:worker_threads";
import { ApiError } from "./errors";
import type { CheckedBody } from "./body-checks";
import type { ParseAnswer, ParseTask } from "./parse-worker-thread";

/**
 * The thread runs this app's TypeScript (the schemas, the error shapes): it registers tsx before it loads
 * its module, as jest's transform does not reach into a thread and `--import tsx` is not passed on to one.
 */
const BOOTSTRAP = [`require(${JSON.stringify(require.resolve("tsx/cjs/api"))}).register();`, `require(${JSON.stringify(path.join(__dirname, "parse-worker-thread.ts"))});`].join("\n");

/** A body the thread read and found valid: as its check readied it (undefined when there was none), and its request hash when asked. */
export interface CheckedInThread {
  body: CheckedBody | undefined;
  requestHash?: string;
}

interface Pending {
  resolve: (checked: CheckedInThread) => void;
  reject: (err: unknown) => void;
}

export interface ParseWorkerOptions {
  /** The thread is stopped after this long without work, and its memory with it (default 30 s). */
  idleMs?: number;
}

/**
 * One thread that parses big JSON bodies, checks them and readies them for their route (body-checks.ts),
 * one at a time, in the order they came: a 58 MB batch costs a second of parsing, checking and encoding
 * there instead of on the event loop that answers every other tenant, and the route gets the result. One thread, because the api shares its cores with its
 * database and its main thread must keep one; and one body at a time, so that the memory a body costs
 * to parse is paid for one body at once. Started at the first body that needs it.
 */
export class ParseWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(options: ParseWorkerOptions = {}) {
    this.idleMs = options.idleMs ?? 30_000;
  }

  /**
   * Reads a body in the thread as `readJsonBody` would (inflating it, within its limits), parses it,
   * checks it and hashes it when asked: the checked body when it is valid; the 4xx that `readJsonBody`
   * or the check would give when not. The segments are handed over, not copied.
   */
  check(body: Omit<ParseTask, "id">): Promise<CheckedInThread> {
    const worker = this.started();
    clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      const task: ParseTask = { id, ...body };
      worker.postMessage(task, body.segments.map((s) => s.buffer as ArrayBuffer));
    });
  }

  /** Stops the thread; a body being checked fails. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error("the parse worker was stopped"));
    await worker.terminate();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(BOOTSTRAP, { eval: true, execArgv: [], name: "parse-worker" });
    worker.on("message", (answer: ParseAnswer) => this.settle(answer));
    worker.on("error", (err) => this.fail(worker, err));
    worker.on("exit", (code) => this.fail(worker, new Error(`the parse worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private settle(answer: ParseAnswer): void {
    const pending = this.pending.get(answer.id);
    this.pending.delete(answer.id);
    if (answer.ok) pending?.resolve({ body: answer.body, ...(answer.requestHash === undefined ? {} : { requestHash: answer.requestHash }) });
    else pending?.reject(new ApiError(answer.error.status, answer.error.code, answer.error.message, answer.error.details));
    if (this.pending.size > 0) return;
    this.worker?.unref();
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs).unref();
  }

  /** The thread died (a bug, or out of memory): what it held fails (a 500), and the next body starts a new one. */
  private fail(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }
}
