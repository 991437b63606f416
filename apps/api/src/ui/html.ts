/**
 * Tiny HTML templating: `html\`…${value}…\`` escapes every interpolated value unless it is already `Html`
 * (the result of another `html` template or of `raw`). Escaping is the default, so a forgotten call cannot
 * turn a prompt or metadata value (user input) into markup.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for an element body or a double- or single-quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Any value as it would appear in the page: Html as is, arrays concatenated, nullish and false as nothing. */
function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Trusted markup (constants written in this code only, never user input). */
export const raw = (markup: string): Html => new Html(markup);

/** The value when it is an absolute http(s) URL (safe in `href`/`src` once escaped), else null: no `javascript:` or `data:`. */
export function httpUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? value : null;
  } catch {
    return null;
  }
}
