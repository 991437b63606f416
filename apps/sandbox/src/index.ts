export * from "./sandbox";
export * from "./options";
export { checkAuthorization, type AuthFailure, type AuthSettings } from "./auth";
export { validateCreateBody, type CreateBody, type ValidationResult } from "./validate";
export { mulberry32, type Random } from "./random";
export type { CallbackCounters } from "./callbacks";
