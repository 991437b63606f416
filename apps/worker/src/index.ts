export * from "./config";
export * from "./worker";
export * from "./submit-processor";
export * from "./maintenance";
