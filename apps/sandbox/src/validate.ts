import { KLING_CFG_SCALE_MAX, KLING_CFG_SCALE_MIN, KLING_NEGATIVE_PROMPT_MAX_CHARS, KLING_PROMPT_MAX_CHARS } from "@kex/kling";

/** A create body that passed the sandbox's checks. */
export interface CreateBody {
  video_id: string;
  prompt: string;
  negative_prompt?: string;
  cfg_scale: number;
  callback_url?: string;
  external_task_id?: string;
}

export type ValidationResult = { ok: true; body: CreateBody } | { ok: false; code: 1200 | 1201; message: string };

const DEFAULT_CFG_SCALE = 0.5;

/** Characters as a person counts them (code points), not UTF-16 units. */
function charCount(text: string): number {
  return [...text].length;
}

/**
 * The create-body rules of the upstream API. A body that is not a JSON object is an invalid request (1200); a bad
 * field is a bad parameter value (1201) whose message names the field. `null` for an optional field means absent;
 * unknown fields are ignored, as upstream does.
 */
export function validateCreateBody(raw: unknown): ValidationResult {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 1200, message: "request body must be a JSON object" };
  }
  const input = raw as Record<string, unknown>;
  const bad = (message: string): ValidationResult => ({ ok: false, code: 1201, message });
  const present = (key: string) => input[key] !== undefined && input[key] !== null;

  const videoId = input.video_id;
  if (!present("video_id")) return bad("video_id is required");
  if (typeof videoId !== "string" || videoId.trim() === "") return bad("video_id must be a non-empty string");

  const prompt = input.prompt;
  if (!present("prompt")) return bad("prompt is required");
  if (typeof prompt !== "string" || prompt.trim() === "") return bad("prompt must be a non-empty string");
  if (charCount(prompt) > KLING_PROMPT_MAX_CHARS) return bad(`prompt must be at most ${KLING_PROMPT_MAX_CHARS} characters`);

  const body: CreateBody = { video_id: videoId, prompt, cfg_scale: DEFAULT_CFG_SCALE };

  if (present("negative_prompt")) {
    const negative = input.negative_prompt;
    if (typeof negative !== "string") return bad("negative_prompt must be a string");
    if (charCount(negative) > KLING_NEGATIVE_PROMPT_MAX_CHARS) {
      return bad(`negative_prompt must be at most ${KLING_NEGATIVE_PROMPT_MAX_CHARS} characters`);
    }
    body.negative_prompt = negative;
  }

  if (present("cfg_scale")) {
    const cfg = input.cfg_scale;
    if (typeof cfg !== "number" || !Number.isFinite(cfg) || cfg < KLING_CFG_SCALE_MIN || cfg > KLING_CFG_SCALE_MAX) {
      return bad(`cfg_scale must be a number between ${KLING_CFG_SCALE_MIN} and ${KLING_CFG_SCALE_MAX}`);
    }
    body.cfg_scale = cfg;
  }

  if (present("callback_url")) {
    const url = input.callback_url;
    if (typeof url !== "string" || !isHttpUrl(url)) return bad("callback_url must be an absolute http(s) URL");
    body.callback_url = url;
  }

  if (present("external_task_id")) {
    const external = input.external_task_id;
    if (typeof external !== "string" || external === "") return bad("external_task_id must be a non-empty string");
    body.external_task_id = external;
  }
  return { ok: true, body };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}
