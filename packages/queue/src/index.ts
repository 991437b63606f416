export * from "./redis";
export * from "./queues";
export * from "./account-pause";
