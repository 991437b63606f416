import pino from "pino";

export type Logger = pino.Logger;

/**
 * Paths that may carry secrets; pino replaces their values with "[redacted]". Defence in depth: the
 * apps never log their configuration or raw headers, but a stray `{config}` or `{headers}` must not
 * leak the API token, the callback secret or the upstream keys either.
 */
export const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
  "apiKey",
  "*.apiKey",
  "secretKey",
  "*.secretKey",
  "apiToken",
  "*.apiToken",
  "callbackSecret",
  "*.callbackSecret",
  "token",
  "*.token",
  "API_TOKEN",
  "*.API_TOKEN",
  "CALLBACK_SECRET",
  "*.CALLBACK_SECRET",
  "KLING_API_KEY",
  "*.KLING_API_KEY",
  "KLING_ACCESS_KEY",
  "*.KLING_ACCESS_KEY",
  "KLING_SECRET_KEY",
  "*.KLING_SECRET_KEY",
];

export interface LoggerOptions {
  name: string;
  /** pino level; `"silent"` for tests. Default `"info"`. */
  level?: string;
  /** Where the JSON lines go. Default stdout (tests pass a stream to read what was logged). */
  destination?: pino.DestinationStream;
}

/** Structured JSON logs, one line per event. */
export function createLogger(options: LoggerOptions): Logger {
  const settings: pino.LoggerOptions = {
    name: options.name,
    level: options.level ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
