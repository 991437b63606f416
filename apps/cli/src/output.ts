import type { Writable } from "node:stream";

/** A stream that may be a terminal (then `isTTY` is true and `columns` its width). */
export type TerminalStream = Writable & { isTTY?: boolean; columns?: number };

/** Where a command writes: data and results on stdout, progress, warnings and errors on stderr. */
export interface Output {
  stdout: Writable;
  stderr: TerminalStream;
  out(line: string): void;
  err(line: string): void;
  /** Registers what to do on Ctrl-C before the process exits (130). */
  onInterrupt(handler: () => void): void;
}

export function processOutput(): Output {
  // A closed pipe on stdout (`kex export … | head`) ends the command quietly.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  const handlers: Array<() => void> = [];
  let installed = false;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
    onInterrupt(handler) {
      handlers.push(handler);
      if (installed) return;
      installed = true;
      process.once("SIGINT", () => {
        for (const h of handlers) h();
        process.exit(130);
      });
    },
  };
}
