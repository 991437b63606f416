export * from "./backend";
export * from "./create-backend";
export * from "./redis";
export * from "./redis-backend";
export * from "./postgres-backend";
export * from "./queues";
export * from "./account-pause";
