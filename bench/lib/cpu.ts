// CPU time from /proc (Linux): per process (utime + stime) and machine-wide busy time, so a phase can
// say how many CPU-milliseconds each process spent per job and whether the 2 cores were saturated.
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds a process has used so far (0 once it is gone). */
export function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, i.e. 11 and 12 after ")".
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

export interface MachineCpu {
  busyS: number;
  totalS: number;
}

/** Machine-wide CPU seconds, busy and total (all cores), from /proc/stat. */
export function machineCpu(): MachineCpu {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busyS: (total - idle) / TICKS_PER_S, totalS: total / TICKS_PER_S };
}

export interface CpuWindow {
  /** CPU seconds per named process (or group of processes) during the window. */
  byProcess: Record<string, number>;
  /** Whole machine: busy CPU seconds, and busy share of all cores (1 = every core busy). */
  machineBusyS: number;
  machineBusyShare: number;
  wallS: number;
  /** 1-minute load average at the start and the end (other users of the machine show up here). */
  load1: [number, number];
}

/** The pids of a group, looked up at the start and at the end of a window (e.g. Postgres backends). */
export type PidSource = number | undefined | (() => Promise<number[]>);

async function pidsOf(source: PidSource): Promise<number[]> {
  if (typeof source === "function") return source().catch(() => []);
  return source ? [source] : [];
}

/** The pid of the local redis-server (from /proc), if it runs on this machine. */
export function findProcessByName(name: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === name) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/**
 * Starts a measurement window over processes or groups of processes; `end()` returns what each used
 * meanwhile. For a group, processes that appear during the window count from their start and those
 * that exit during it are lost (pools keep their connections while busy, so this is small).
 */
export async function cpuWindow(sources: Record<string, PidSource>): Promise<{ end(): Promise<CpuWindow> }> {
  const start: Record<string, Map<number, number>> = {};
  for (const [name, source] of Object.entries(sources)) {
    start[name] = new Map((await pidsOf(source)).map((pid) => [pid, processCpuSeconds(pid)]));
  }
  const m0 = machineCpu();
  const t0 = performance.now();
  const l0 = loadavg()[0] ?? 0;
  return {
    async end() {
      const byProcess: Record<string, number> = {};
      for (const [name, source] of Object.entries(sources)) {
        let sum = 0;
        for (const pid of await pidsOf(source)) sum += processCpuSeconds(pid) - (start[name]!.get(pid) ?? 0);
        byProcess[name] = sum;
      }
      const m1 = machineCpu();
      const busy = m1.busyS - m0.busyS;
      const total = m1.totalS - m0.totalS;
      return {
        byProcess,
        machineBusyS: busy,
        machineBusyShare: total > 0 ? busy / total : 0,
        wallS: (performance.now() - t0) / 1000,
        load1: [l0, loadavg()[0] ?? 0],
      };
    },
  };
}
