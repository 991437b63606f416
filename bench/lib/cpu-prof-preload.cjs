// Preloaded with NODE_OPTIONS="--require …/cpu-prof-preload.cjs" (Node 20 refuses --cpu-prof there):
// profiles this process with the inspector and writes BENCH_CPU_PROF_DIR/<app>-<pid>.cpuprofile when it
// exits (the in-process inspector session answers synchronously, so an 'exit' handler can do it).
"use strict";
const dir = process.env.BENCH_CPU_PROF_DIR;
// Peak of each process.memoryUsage() field (sampled every 20 ms), written next to the profile: says
// whether a peak RSS is JS heap (objects), external/array buffers (request bodies), or something else.
if (dir) {
  const peaks = {};
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    for (const k of Object.keys(m)) peaks[k] = Math.max(peaks[k] || 0, m[k]);
  }, 20);
  timer.unref();
  process.on("exit", () => {
    try {
      require("node:fs").mkdirSync(dir, { recursive: true });
      require("node:fs").writeFileSync(require("node:path").join(dir, `memory-${process.pid}.json`), JSON.stringify(peaks));
    } catch {
      // best effort: the process is exiting
    }
  });
}
if (dir) {
  const fs = require("node:fs");
  const path = require("node:path");
  const inspector = require("node:inspector");
  const session = new inspector.Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: Number(process.env.BENCH_CPU_PROF_INTERVAL_US || 500) });
  session.post("Profiler.start");
  let written = false;
  process.on("exit", () => {
    if (written) return;
    written = true;
    session.post("Profiler.stop", (err, result) => {
      if (err || !result) return;
      fs.mkdirSync(dir, { recursive: true });
      const name = path.basename(process.cwd());
      fs.writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
