export * from "./env";
export * from "./database";
export * from "./redis";
export * from "./stack";
export * from "./resolver";
export * from "./browser";
