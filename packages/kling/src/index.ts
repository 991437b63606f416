export * from "./types";
export * from "./client";
export * from "./classify";
export * from "./signature";
