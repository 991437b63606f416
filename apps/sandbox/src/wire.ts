import type { KlingTask } from "@kex/kling";
import type { TaskRecord } from "./state";

/** "9.5", "14.0", "5.0": upstream writes durations as strings with at least one decimal. */
export function formatDuration(seconds: number): string {
  const rounded = String(Math.round(seconds * 1000) / 1000);
  return rounded.includes(".") ? rounded : `${rounded}.0`;
}

/** A task as upstream shows it, in query answers and callbacks alike. */
export function toWire(task: TaskRecord): KlingTask {
  const taskInfo: NonNullable<KlingTask["task_info"]> = {
    parent_video: { id: task.parent.id, url: task.parent.url, duration: formatDuration(task.parent.durationSeconds) },
  };
  if (task.externalTaskId !== undefined) taskInfo.external_task_id = task.externalTaskId;
  const wire: KlingTask = {
    task_id: task.taskId,
    task_status: task.status,
    task_status_msg: task.statusMsg,
    task_info: taskInfo,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
  };
  if (task.status === "succeed" && task.result) {
    const video = task.result;
    wire.task_result = {
      videos: [
        {
          id: video.id,
          url: video.url,
          watermark_url: video.url.replace(/\.mp4$/, "-wm.mp4"),
          duration: formatDuration(video.durationSeconds),
        },
      ],
    };
  }
  if (task.status === "succeed") wire.final_unit_deduction = "1";
  if (task.status === "failed") wire.final_unit_deduction = "0";
  return wire;
}
