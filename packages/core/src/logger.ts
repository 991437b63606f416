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
  /**
   * Values that must never be printed (the API token, the callback secret, upstream keys): replaced by
   * "[redacted]" wherever they appear in a line, as written, JSON-escaped or percent-encoded. Values
   * shorter than 8 characters are ignored (they would redact ordinary words).
   */
  secrets?: readonly string[];
}

const MIN_SECRET_CHARS = 8;

/** Every form a secret can take in a JSON log line: as is, JSON-escaped, percent-encoded. Longest first. */
function secretForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_CHARS) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
    forms.add(JSON.stringify(encodeURIComponent(secret)).slice(1, -1));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Redaction by value, for what the path-based `REDACT_PATHS` cannot know about: a secret sent back in a URL or a header. */
export function secretRedactor(secrets: readonly string[]): (line: string) => string {
  const forms = secretForms(secrets);
  return (line) => {
    let out = line;
    for (const form of forms) if (out.includes(form)) out = out.replaceAll(form, "[redacted]");
    return out;
  };
}

/** Structured JSON logs, one line per event. */
export function createLogger(options: LoggerOptions): Logger {
  const settings: pino.LoggerOptions = {
    name: options.name,
    level: options.level ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.secrets?.length ? { hooks: { streamWrite: secretRedactor(options.secrets) } } : {}),
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
