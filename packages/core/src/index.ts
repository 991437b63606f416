export * from "./job-status";
export * from "./state-machine";
export * from "./callback-token";
export * from "./secrets";
export * from "./job-catalog";
export * from "./cursor";
export * from "./logger";
export * from "./ssrf";
