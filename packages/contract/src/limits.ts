/** Upstream limits on what a job may carry, and ours on how much one request may ask. */
export const PROMPT_MAX_CHARS = 2500;
export const VIDEO_ID_MAX_CHARS = 256;
export const URL_MAX_CHARS = 2048;
export const METADATA_MAX_BYTES = 8192;
/** Objects and arrays in `metadata` nest at most this deep (the metadata object itself is level 1). */
export const METADATA_MAX_DEPTH = 16;
export const BATCH_MAX_ITEMS = 10_000;
export const BATCH_NAME_MAX_CHARS = 200;
export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 200;

/** Upstream video rules: each extension adds about 4.5 s; a video may not exceed 3 minutes. */
export const EXTENSION_SECONDS = 4.5;
export const MAX_VIDEO_SECONDS = 180;
export const CHAIN_MAX_STEPS = Math.floor(MAX_VIDEO_SECONDS / EXTENSION_SECONDS);
