export * from "./sandbox";
export * from "./options";
export { checkAuthorization, type AuthFailure, type AuthSettings } from "./auth";
export { validateCreateBody, type CreateBody, type ValidationResult } from "./validate";
export type { CallbackCounters } from "./callbacks";
