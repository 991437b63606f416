import { chance, randomInt } from "@kex/core";
import type { KlingTaskStatus } from "@kex/kling";
import { newId, nowMs, schedule, type SandboxCore, type State, type TaskRecord, type VideoRecord } from "./state";
import { callbackBody } from "./wire";

/** Moves a task to `status` and tells its callback URL, if it has one. A finished task gets its deductions. */
export function transition(core: SandboxCore, s: State, task: TaskRecord, status: KlingTaskStatus, statusMsg = ""): void {
  task.status = status;
  task.statusMsg = statusMsg;
  task.updatedAt = nowMs(core);
  if (status === "succeed") {
    task.unitDeduction = core.options.unitDeduction;
    if (core.options.balanceDeduction) task.balanceDeduction = { ...core.options.balanceDeduction };
  } else if (status === "failed") {
    task.unitDeduction = "0";
  }
  notify(core, s, task);
}

export function notify(core: SandboxCore, s: State, task: TaskRecord): void {
  if (task.callbackUrl === undefined) return;
  const finished = task.status === "succeed" || task.status === "failed";
  s.callbacks.emit(task.taskId, task.callbackUrl, callbackBody(task, core.options), finished);
}

/**
 * submitted → processing after `processingDelayMs`, then `succeed` (with a result video under
 * `publicBase`) or `failed` after a random time between the completion delays.
 */
export function startLifecycle(core: SandboxCore, s: State, task: TaskRecord, publicBase: string): void {
  schedule(s, core.options.processingDelayMs, () => {
    transition(core, s, task, "processing");
    schedule(s, randomInt(core.random, core.options.completeDelayMinMs, core.options.completeDelayMaxMs), () => {
      if (chance(core.random, core.options.failureRate)) {
        transition(core, s, task, "failed", core.options.failureMessage);
        return;
      }
      const id = newId(core, (candidate) => s.videos.has(candidate));
      const video: VideoRecord = {
        id,
        url: `${publicBase}/videos/${id}.mp4`,
        durationSeconds: Math.round((task.parent.durationSeconds + core.options.extendSeconds) * 1000) / 1000,
        createdAt: nowMs(core),
      };
      s.videos.set(id, video);
      task.result = video;
      transition(core, s, task, "succeed");
    });
  });
}
