export * from "./env";
export * from "./database";
export * from "./redis";
export * from "./wait";
export * from "./resolver";
export * from "./browser";
export * from "./table";
export * from "./webhook-receiver";
