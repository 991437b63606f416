import type { KlingTask } from "@kex/kling";
import type { SandboxOptions } from "./options";
import type { TaskRecord } from "./state";

/** "9.5", "14.0", "5.0": upstream writes durations as strings with at least one decimal. */
export function formatDuration(seconds: number): string {
  const rounded = String(Math.round(seconds * 1000) / 1000);
  return rounded.includes(".") ? rounded : `${rounded}.0`;
}

/** A task's status on the wire: the sandbox keeps the legacy spelling inside and writes `succeeded` when asked. */
export type WireTaskStatus = "submitted" | "processing" | "succeed" | "succeeded" | "failed";

/** The legacy task object; `task_status` may carry the newer spelling. */
export type WireTask = Omit<KlingTask, "task_status"> & {
  task_status: WireTaskStatus;
  final_balance_deduction?: { quota: string; list_price: string };
};

type WireOptions = Pick<SandboxOptions, "statusSpelling">;

function wireStatus(task: TaskRecord, options: WireOptions): WireTaskStatus {
  return task.status === "succeed" ? options.statusSpelling : task.status;
}

function resultVideo(task: TaskRecord) {
  const video = task.result;
  if (task.status !== "succeed" || !video) return undefined;
  return {
    id: video.id,
    url: video.url,
    watermark_url: video.url.replace(/\.mp4$/, "-wm.mp4"),
    duration: formatDuration(video.durationSeconds),
  };
}

/** A task as upstream's legacy route shows it, in query answers, list answers and legacy callbacks alike. */
export function toWire(task: TaskRecord, options: WireOptions): WireTask {
  const taskInfo: NonNullable<KlingTask["task_info"]> = {
    parent_video: { id: task.parent.id, url: task.parent.url, duration: formatDuration(task.parent.durationSeconds) },
  };
  if (task.externalTaskId !== undefined) taskInfo.external_task_id = task.externalTaskId;
  const wire: WireTask = {
    task_id: task.taskId,
    task_status: wireStatus(task, options),
    task_status_msg: task.statusMsg,
    task_info: taskInfo,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
  };
  const video = resultVideo(task);
  if (video) wire.task_result = { videos: [video] };
  if (task.unitDeduction !== undefined) wire.final_unit_deduction = task.unitDeduction;
  if (task.balanceDeduction !== undefined) wire.final_balance_deduction = { ...task.balanceDeduction };
  return wire;
}

/**
 * The 3.x callback shape [assumed in its details]: `id`, `status` (always spelled `succeeded`), `external_id`,
 * `outputs[]` and `billing[]` instead of `task_id`, `task_status`, `task_info`, `task_result` and the deduction fields.
 */
export function toV3Callback(task: TaskRecord): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: task.taskId,
    status: task.status === "succeed" ? "succeeded" : task.status,
    status_msg: task.statusMsg,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
  };
  if (task.externalTaskId !== undefined) body.external_id = task.externalTaskId;
  const video = resultVideo(task);
  body.outputs = video ? [{ type: "video", ...video }] : [];
  const billing: Array<Record<string, string>> = [];
  if (task.unitDeduction !== undefined) billing.push({ type: "unit", amount: task.unitDeduction });
  if (task.balanceDeduction !== undefined) billing.push({ type: "balance", ...task.balanceDeduction });
  body.billing = billing;
  return body;
}

/** The body of a callback about `task`, in the shape the options ask for. */
export function callbackBody(task: TaskRecord, options: Pick<SandboxOptions, "statusSpelling" | "callbackShape">): object {
  return options.callbackShape === "v3" ? toV3Callback(task) : toWire(task, options);
}
