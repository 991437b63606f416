import { JOB_STATUSES, textProblem } from "@kex/contract";
import { callbackToken, UPSTREAM_TASK_STATUSES } from "@kex/core";
import { claimManyForSubmit, createJob, type Job } from "@kex/db";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { API_TOKEN, CALLBACK_SECRET, startApiHarness, type ApiHarness } from "./helpers";
import { sendRaw, type RawAnswer } from "./raw-http";
import { countRows } from "./row-counts";

/**
 * Hostile and careless requests derived from the OpenAPI document: every field of every operation's
 * request body, its path parameters and its query parameters get invalid values (a NUL, lone
 * surrogates, nesting past the limits, over-size strings and arrays, wrong types, numbers JSON cannot
 * hold, bodies that are not UTF-8 JSON, bad percent-encoding), and garbage paths and query strings
 * are sent besides. Whatever is sent: no 5xx; an error answer is a status the document lists for the
 * operation, with the error body it describes, and a validation error names a field and a rule (the
 * field that was broken, for a broken field); and no row is written.
 *
 * Callbacks go to a real job: each callback case gets a job of its own, created and submitted (it holds
 * an upstream task and a valid callback token), and its body is a report about that task (processing,
 * failed with a message, succeeded with a video) with one field broken. Upstream's text is stored, not
 * refused, so such a callback may be answered 200; either way the job stays consistent: a state a report
 * can move a submitted job to, still its own task, storable text, and an event for an answered callback
 * (none for a refused one, which changes nothing).
 *
 * `npm test` runs a bounded run with a fixed seed. A long one: `FUZZ_RUNS=20000 npx jest apps/api/test/fuzz`
 * (`FUZZ_SEED=<n>` for another sequence, or to replay the seed a failure reports).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);

// ---------------------------------------------------------------------------------------------
// The document, as far as requests go

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}
interface DocOperation {
  parameters?: Array<{ in: string; name: string; schema: JsonSchema }>;
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, unknown>;
}
interface Document {
  paths: Record<string, Record<string, DocOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

/** One operation, ready to be sent. */
interface Operation {
  method: string;
  /** As the document writes it: `/v1/extensions/{id}`. */
  path: string;
  doc: DocOperation;
  body?: JsonSchema;
  pathParams: string[];
  queryParams: Array<{ name: string; schema: JsonSchema }>;
}

/** One request the property sends, and what it may answer. */
interface Case {
  /** How fast-check shows a failing case: the request, not the operation's whole declaration. */
  [fc.toStringMethod]: () => string;
  kind: string;
  /** The operation the request is for; none for a garbage path. */
  operation?: Operation;
  method: string;
  /** Sent byte for byte. */
  path: string;
  body?: Buffer | string;
  headers: Record<string, string>;
  /** The request is invalid: a 2xx would be a bug. */
  refused: boolean;
  /** The body field that was broken (`items.0.prompt`): a validation error must name it (or a field inside it). */
  field?: string;
}

let h: ApiHarness;
let doc: Document;
let operations: Operation[];
/** The document's error body schema (its `$ref`s to `#/components/schemas/X` read from one schema of `$defs`). */
let validateErrorBody: ValidateFunction;

/** A job id nobody holds: an `:id` path parameter left as it is names no resource. */
const UNKNOWN_JOB = "00000000-0000-4000-8000-00000000f022";

/**
 * Placeholders in a callback case, replaced when it is sent by a fresh submitted job's id, its callback
 * token, its upstream task id and its `external_task_id`.
 */
const CALLBACK_JOB = "00000000-0000-4000-8000-0000000ca11b";
const CALLBACK_TOKEN = "@@token@@";
const CALLBACK_TASK = "@@task@@";
const CALLBACK_EXTERNAL = "@@external@@";

/** Reports upstream sends about a task, one of which a callback case breaks a field of. */
const CALLBACK_REPORTS = [
  { task_id: CALLBACK_TASK, task_status: "processing", task_status_msg: "", task_info: { external_task_id: CALLBACK_EXTERNAL } },
  { task_id: CALLBACK_TASK, task_status: "failed", task_status_msg: "the video could not be extended", task_info: { external_task_id: CALLBACK_EXTERNAL } },
  {
    task_id: CALLBACK_TASK,
    task_status: "succeed",
    task_info: { external_task_id: CALLBACK_EXTERNAL },
    task_result: { videos: [{ id: "860033506", url: "https://cdn.example/v/860033506.mp4?sig=abc", duration: "9.1" }] },
  },
];

beforeAll(async () => {
  h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0", API_KEY_CACHE_MS: "60000" });
  doc = (await sendRaw(h.api.url, { path: "/openapi.json" })).json as Document;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({
    $id: "components",
    $defs: JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('"#/components/schemas/', '"components#/$defs/')),
  });
  validateErrorBody = ajv.compile({ $ref: "components#/$defs/Error" });
  operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      doc: op,
      body: op.requestBody?.content["application/json"]?.schema,
      pathParams: (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
      queryParams: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => ({ name: p.name, schema: p.schema })),
    })),
  );
});
afterAll(() => h.close());

const resolve = (schema: JsonSchema): JsonSchema =>
  schema.$ref ? resolve(doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]!) : schema;
const typesOf = (schema: JsonSchema): string[] => (Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []);

/** The smallest value the schema accepts, with one element in every array (so fields inside items can be broken). */
function exampleOf(schema: JsonSchema): unknown {
  const s = resolve(schema);
  if (s.enum) return s.enum[0];
  switch (typesOf(s)[0]) {
    case "object":
      return Object.fromEntries((s.required ?? []).map((name) => [name, exampleOf(s.properties![name]!)]));
    case "array":
      return [exampleOf(s.items ?? {})];
    case "string":
      return s.format === "uuid" ? "00000000-0000-4000-8000-000000000001" : "x".repeat(Math.max(1, s.minLength ?? 1));
    case "number":
    case "integer":
      return s.minimum ?? 0;
    case "boolean":
      return true;
    default:
      return {};
  }
}

/** Every field of a body schema, depth first, with its path; a field inside an array is reached through element 0. */
function fieldsOf(schema: JsonSchema, path: Array<string | number> = []): Array<{ path: Array<string | number>; schema: JsonSchema }> {
  const s = resolve(schema);
  const out: Array<{ path: Array<string | number>; schema: JsonSchema }> = [];
  if (s.properties) {
    for (const [name, property] of Object.entries(s.properties)) {
      out.push({ path: [...path, name], schema: resolve(property) }, ...fieldsOf(property, [...path, name]));
    }
  }
  if (typesOf(s).includes("array") && s.items)
    out.push({ path: [...path, 0], schema: resolve(s.items) }, ...fieldsOf(s.items, [...path, 0]));
  return out;
}

/** `value` (of `schema`) with `path` set to `leaf`; what is missing on the way is the smallest valid value, so only the leaf is wrong. */
function setAt(value: unknown, schema: JsonSchema, path: Array<string | number>, leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const s = resolve(schema);
  const [head, ...rest] = path;
  const container = structuredClone(value !== null && typeof value === "object" ? value : exampleOf(s)) as Record<string | number, unknown>;
  const inner = typeof head === "number" ? s.items : s.properties?.[head!];
  container[head!] = setAt(container[head!] ?? exampleOf(inner ?? {}), inner ?? {}, rest, leaf);
  return container;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof RawJson);

/** What `value` holds at `path`, if anything. */
function valueAt(value: unknown, path: Array<string | number>): unknown {
  let at = value;
  for (const key of path) at = at !== null && typeof at === "object" ? (at as Record<string | number, unknown>)[key] : undefined;
  return at;
}

// ---------------------------------------------------------------------------------------------
// Invalid values

/** JSON text that JSON.stringify cannot write (`1e400`, 5,000 levels of nesting): spliced into the body as is. */
class RawJson {
  constructor(readonly text: string) {}
}

function serialize(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (!(v instanceof RawJson)) return v;
    raws.push(v.text);
    return `@@raw${raws.length - 1}@@`;
  });
  return text.replace(/"@@raw(\d+)@@"/g, (_, i: string) => raws[Number(i)]!);
}

const SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"];
const text = fc.string({ maxLength: 12 });
const withNul = fc.tuple(text, text).map(([a, b]) => `${a}\u0000${b}`);
const withLoneSurrogate = fc.tuple(text, fc.constantFrom(...SURROGATES), text).map(([a, s, b]) => `${a}${s}${b}`);
const badText = fc.oneof(withNul, withLoneSurrogate);
const nested = (levels: number, leaf: unknown = 1): RawJson =>
  new RawJson(`${'{"a":'.repeat(levels)}${serialize(leaf)}${"}".repeat(levels)}`);
const deepArray = (levels: number): RawJson => new RawJson(`${"[".repeat(levels)}${"]".repeat(levels)}`);

/** Values of the wrong JSON type for a schema of `types`. */
function wrongTypes(types: string[]): fc.Arbitrary<unknown> {
  const all: Array<[string, unknown]> = [
    ["null", null],
    ["boolean", true],
    ["number", 7],
    ["integer", -1],
    ["string", "7"],
    ["array", []],
    ["object", {}],
  ];
  const numberish = types.includes("number") || types.includes("integer");
  const wrong = all
    .filter(([type]) => !types.includes(type) && !(numberish && (type === "number" || type === "integer")))
    .map(([, value]) => value);
  return fc.constantFrom(...wrong);
}

/** A JSON object a client owns (metadata, or an upstream object we pass through): broken inside, at any depth. */
const badObject = fc.oneof(
  fc.integer({ min: 17, max: 200 }).map((levels) => ({ kind: "object nested too deep", value: nested(levels) })),
  fc.integer({ min: 65, max: 5_000 }).map((levels) => ({ kind: "object nested past the body's depth", value: nested(levels) })),
  fc
    .tuple(fc.integer({ min: 0, max: 15 }), badText)
    .map(([levels, bad]) => ({ kind: "bad text in a key", value: nested(levels, { [`k${bad}`]: 1 }) })),
  fc
    .tuple(fc.integer({ min: 0, max: 15 }), badText)
    .map(([levels, bad]) => ({ kind: "bad text in a value", value: nested(levels, [1, bad]) })),
  fc
    .integer({ min: 0, max: 15 })
    .map((levels) => ({ kind: "a number JSON cannot hold", value: nested(levels, { n: new RawJson("-1e400") }) })),
  fc.integer({ min: 8_200, max: 60_000 }).map((n) => ({ kind: "object over its size", value: { pad: "x".repeat(n) } })),
);

/** An invalid value for a field of `schema`, and what kind of invalid it is. */
function invalidValue(schema: JsonSchema): fc.Arbitrary<{ kind: string; value: unknown }> {
  const types = typesOf(schema);
  const choices: Array<fc.Arbitrary<{ kind: string; value: unknown }>> = [
    wrongTypes(types).map((value) => ({ kind: "wrong type", value })),
  ];
  if (types.includes("string")) {
    choices.push(
      withNul.map((value) => ({ kind: "NUL", value })),
      withLoneSurrogate.map((value) => ({ kind: "lone surrogate", value })),
      fc.integer({ min: 65 * 1024, max: 200 * 1024 }).map((n) => ({ kind: "string over the body's string limit", value: "s".repeat(n) })),
    );
    if (schema.maxLength !== undefined)
      choices.push(
        fc.integer({ min: 1, max: 50 }).map((n) => ({ kind: "string over its length", value: "é".repeat(schema.maxLength! + n) })),
      );
  }
  if (types.includes("number") || types.includes("integer")) {
    choices.push(fc.constantFrom("1e400", "-1e400").map((raw) => ({ kind: "a number JSON cannot hold", value: new RawJson(raw) })));
    const beyond = fc.double({ min: 1e-6, max: 1e9, noNaN: true });
    if (schema.minimum !== undefined) choices.push(beyond.map((d) => ({ kind: "number under its minimum", value: schema.minimum! - d })));
    if (schema.maximum !== undefined) choices.push(beyond.map((d) => ({ kind: "number over its maximum", value: schema.maximum! + d })));
  }
  if (types.includes("array")) {
    const item = exampleOf(schema.items ?? {});
    choices.push(
      fc.integer({ min: 65, max: 3_000 }).map((levels) => ({ kind: "array nested past the body's depth", value: deepArray(levels) })),
      fc.constant({ kind: "array over its length", value: Array.from({ length: (schema.maxItems ?? 10_000) + 1 }, () => item) }),
    );
    if ((schema.minItems ?? 0) > 0) choices.push(fc.constant({ kind: "empty array", value: [] }));
  }
  if (types.includes("object") && !schema.properties) choices.push(badObject);
  if (types.includes("object") && schema.properties) {
    choices.push(
      fc
        .tuple(text, fc.oneof(text, badText))
        .map(([name, value]) => ({ kind: "unknown field", value: { ...(exampleOf(schema) as object), [`x_${name}`]: value } })),
    );
  }
  return fc.oneof(...choices);
}

// ---------------------------------------------------------------------------------------------
// Requests

const JSON_TYPE = "application/json";

/** A case as a failure report shows it. */
const shown = (kind: string, method: string, path: string, body?: Buffer | string) => ({
  [fc.toStringMethod]: () =>
    `${kind}: ${method} ${path.slice(0, 300)}${body === undefined ? "" : ` ${JSON.stringify(String(body).slice(0, 300))}`}`,
});

const isCallback = (operation: Operation) => operation.path.startsWith("/webhooks/");

function requestPath(operation: Operation, params: Record<string, string> = {}, query = ""): string {
  const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? (isCallback(operation) ? CALLBACK_JOB : UNKNOWN_JOB));
  const token = isCallback(operation) && params.jobId === undefined ? `token=${CALLBACK_TOKEN}` : "";
  const search = [token, query].filter(Boolean).join("&");
  return search ? `${path}?${search}` : path;
}

function headersFor(operation: Operation | undefined, path: string): Record<string, string> {
  return path.startsWith("/v1/") || operation?.path.startsWith("/v1/") ? { Authorization: `Bearer ${API_TOKEN}` } : {};
}

/**
 * A body operation with one field (or the whole body) made invalid. A callback's body is a report about
 * its job's task with a field broken: not refused as such (upstream's text is stored), but held to the
 * job's consistency instead (`callbackProblems`).
 */
function bodyCase(operation: Operation): fc.Arbitrary<Case> {
  const bases = isCallback(operation) ? CALLBACK_REPORTS : [exampleOf(operation.body!)];
  const base = bases[0];
  const send = (kind: string, body: Buffer | string, extra: Record<string, string> = {}, field?: string): Case => ({
    ...shown(kind, operation.method, requestPath(operation), body),
    kind,
    operation,
    method: operation.method,
    path: requestPath(operation),
    body,
    headers: { ...headersFor(operation, operation.path), "Content-Type": JSON_TYPE, ...extra },
    refused: !isCallback(operation),
    ...(field === undefined ? {} : { field }),
  });
  const idempotencyKey = fc.option(
    fc.uuid().map((key) => ({ "Idempotency-Key": key })),
    { nil: undefined },
  );
  const fields = [{ path: [], schema: resolve(operation.body!) }, ...fieldsOf(operation.body!)];
  const brokenField = fc.tuple(fc.constantFrom(...fields), idempotencyKey, fc.constantFrom(...bases)).chain(([field, key, report]) =>
    invalidValue(field.schema).map(({ kind, value }) => {
      const name = field.path.join(".");
      // An unknown field is added to what the body has there (a report keeps its task id and status).
      const there = valueAt(report, field.path);
      const leaf = kind === "unknown field" && isPlainObject(there) && isPlainObject(value) ? { ...value, ...there } : value;
      return send(
        `${kind} in ${name || "(body)"}`,
        serialize(setAt(report, operation.body!, field.path, leaf)),
        key ?? {},
        name || undefined,
      );
    }),
  );
  const baseText = serialize(base);
  const brokenBody = fc.oneof(
    fc.integer({ min: 1, max: baseText.length - 1 }).map((n) => send("truncated JSON", baseText.slice(0, n))),
    fc.constantFrom("1", '"text"', "null", "true", "[]", "[{}]", "{}{}", "{'a':1}").map((body) => send("not a JSON object", body)),
    fc
      .constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe0, 0xa4])
      .map((bytes) => send("not UTF-8", Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]))),
    fc.integer({ min: 65, max: 100_000 }).map((levels) => send("body nested past the depth limit", "[".repeat(levels))),
    fc
      .constantFrom(
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1",
        "multipart/form-data; boundary=x",
      )
      .map((type) => send(`Content-Type ${type}`, baseText, { "Content-Type": type })),
    fc
      .constantFrom("gzip", "deflate", "br", "compress", "gzip, gzip")
      .map((encoding) => send(`Content-Encoding ${encoding} that is not`, baseText, { "Content-Encoding": encoding })),
  );
  return fc.oneof({ arbitrary: brokenField, weight: 3 }, { arbitrary: brokenBody, weight: 1 });
}

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");
const pchars = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,40}$/);

/** A path segment no resource has, or one that is no valid percent-encoding. */
const badSegment = fc.oneof(
  fc.constantFrom("%ZZ", "%", "%E0%A4%A", "%C0%80", "%ED%A0%80", "%ED%B0%80", "%FF", "%00", "%2F", "..", "%2e%2e", "%uD800"),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map(hex),
  pchars,
  fc.uuid(),
  // Under Node's 16 KB limit on the request line and headers even three times over, which Node answers itself.
  fc.integer({ min: 300, max: 4_000 }).map((n) => "i".repeat(n)),
);

/** An operation with a path parameter set to garbage. */
function pathCase(operation: Operation): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom(...operation.pathParams), badSegment).map(([name, segment]) => ({
    ...shown(`bad path parameter ${name}`, operation.method, requestPath(operation, { [name]: segment })),
    kind: `bad path parameter ${name}`,
    operation,
    method: operation.method,
    path: requestPath(operation, { [name]: segment }),
    headers: headersFor(operation, operation.path),
    refused: true,
  }));
}

const queryValue = fc.oneof(
  fc.constantFrom("%00", "a%00b", "%ZZ", "%", "%ED%A0%80", "%FF%FE", "", "%20", "+", "[]", "0", "-1", "1e400", "NaN", "0x10"),
  fc.uint8Array({ minLength: 1, maxLength: 30 }).map(hex),
  pchars,
  fc.integer({ min: 201, max: 3_000 }).map((n) => "q".repeat(n)),
);

/**
 * An operation with a declared query parameter set to garbage, given twice, or garbage parameters besides.
 * A POST carries a body that is not JSON, so that a query the route ignores cannot create anything (a
 * `POST /v1/keys` without a body is a valid request).
 */
function queryCase(operation: Operation): fc.Arbitrary<Case> {
  const declared = operation.queryParams.filter((p) => p.name !== "token").map((p) => p.name);
  const names = fc.oneof(
    ...(declared.length > 0 ? [fc.constantFrom(...declared)] : []),
    pchars,
    fc.uint8Array({ minLength: 1, maxLength: 10 }).map(hex),
  );
  const pairs = fc.array(fc.tuple(names, queryValue), { minLength: 1, maxLength: 4 });
  return pairs.map((list) => ({
    ...shown(
      "garbage query string",
      operation.method,
      requestPath(operation, {}, list.map(([name, value]) => `${name}=${value}`).join("&")),
      operation.method === "POST" ? "{" : undefined,
    ),
    kind: "garbage query string",
    operation,
    method: operation.method,
    path: requestPath(operation, {}, list.map(([name, value]) => `${name}=${value}`).join("&")),
    ...(operation.method === "POST" ? { body: "{" } : {}),
    headers: { ...headersFor(operation, operation.path), ...(operation.method === "POST" ? { "Content-Type": JSON_TYPE } : {}) },
    refused: false,
  }));
}

/** An operation that takes no body, sent one that is not JSON anyway: a /v1 route reads every body it is sent, and refuses this. */
function strayBodyCase(operation: Operation): fc.Arbitrary<Case> {
  const bodies = fc.constantFrom<[string, string]>(
    ["{", JSON_TYPE],
    ["[".repeat(100), JSON_TYPE],
    ['"\\ud800"', JSON_TYPE],
    ["a=1", "text/plain"],
    ["<x/>", "application/xml"],
  );
  return bodies.map(([body, type]) => ({
    ...shown("stray body", operation.method, requestPath(operation), body),
    kind: "stray body",
    operation,
    method: operation.method,
    path: requestPath(operation),
    body,
    headers: { ...headersFor(operation, operation.path), "Content-Type": type },
    refused: operation.path.startsWith("/v1/"),
  }));
}

/** A path no route has, under every prefix the app routes (a POST carries a body that is not JSON, so nothing can be created by a lucky hit). */
const garbagePathCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom("/v1/", "/v1/extensions/", "/v1/batches/x/", "/webhooks/", "/webhooks/kling/x/", "/docs/", "/x-"),
    fc.array(badSegment, { minLength: 1, maxLength: 3 }),
    fc.constantFrom("GET", "POST"),
  )
  .map(([prefix, segments, method]) => {
    const path = `${prefix}${segments.join("/")}`;
    return {
      ...shown("garbage path", method, path, method === "POST" ? "{" : undefined),
      kind: "garbage path",
      method,
      path,
      ...(method === "POST" ? { body: "{" } : {}),
      headers: { ...headersFor(undefined, path), ...(method === "POST" ? { "Content-Type": JSON_TYPE } : {}) },
      refused: false,
    };
  });

/**
 * Half the cases break a body (a callback's more often than the others': it is the route upstream, not a
 * client, sends to); the rest go to path parameters, query strings, stray bodies and paths no route has.
 */
function allCases(): fc.Arbitrary<Case> {
  const withBody = operations.filter((operation) => operation.body);
  const withPathParams = operations.filter((operation) => operation.pathParams.length > 0);
  return fc.oneof(
    { arbitrary: fc.oneof(...withBody.map(bodyCase)), weight: 5 },
    { arbitrary: fc.oneof(...withBody.filter(isCallback).map(bodyCase)), weight: 1 },
    { arbitrary: fc.oneof(...withPathParams.map(pathCase)), weight: 2 },
    { arbitrary: fc.oneof(...operations.map(queryCase)), weight: 2 },
    { arbitrary: fc.oneof(...operations.filter((operation) => !operation.body).map(strayBodyCase)), weight: 1 },
    { arbitrary: garbagePathCase, weight: 1 },
  );
}

// ---------------------------------------------------------------------------------------------
// The property

interface ErrorAnswer {
  error: { code: string; message: string; details?: Array<{ field: string; rule: string; message: string }> | Record<string, unknown> };
}

/** Everything wrong with the answer to `c` (empty when it is right). */
function problemsWith(c: Case, answer: RawAnswer): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  if (c.refused && answer.status < 400) problems.push(`accepted an invalid request (${answer.status})`);
  if (answer.status < 400) return problems;
  if (c.operation && !(String(answer.status) in c.operation.doc.responses))
    problems.push(`${answer.status} is not a status the document lists for ${c.operation.method} ${c.operation.path}`);
  if (answer.json === undefined) return [...problems, `a ${answer.status} that is not JSON: ${answer.headers["content-type"]}`];
  if (!validateErrorBody(answer.json))
    problems.push(`an error body the document does not describe: ${JSON.stringify(validateErrorBody.errors)}`);
  const { error } = answer.json as ErrorAnswer;
  if (error?.code === "validation_failed") {
    const details = Array.isArray(error.details) ? error.details : [];
    if (details.length === 0 || details.some((d) => !d.field || !d.rule))
      problems.push(`a validation error without a field and a rule: ${JSON.stringify(error.details)}`);
    if (
      c.field !== undefined &&
      !details.some((d) => d.field === c.field || d.field.startsWith(`${c.field}.`) || d.field.startsWith(`${c.field},`))
    ) {
      problems.push(`a validation error that does not name ${c.field}: ${JSON.stringify(details).slice(0, 300)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Callbacks at a real job

interface CallbackJob {
  id: string;
  taskId: string;
  externalTaskId: string;
}

let taskSeq = 700_000_000_000_000_000n;

/** A job created and submitted as the worker does it: claimed (its `external_task_id` fixed), its upstream task adopted. */
async function submittedJob(): Promise<CallbackJob> {
  const job = await createJob(h.api.db, { input: { video_id: "812345678901234567", prompt: "fuzzed callbacks" } });
  if ((await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id) !== "claimed") throw new Error("could not claim the job");
  const taskId = String(taskSeq++);
  await h.api.engine.adoptUpstreamTask({ jobId: job.id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  const row = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  return { id: job.id, taskId, externalTaskId: row.externalTaskId! };
}

/** `c` with the placeholders filled for `job`. */
function aimedAt(c: Case, job: CallbackJob): { path: string; body?: Buffer | string } {
  const fill = (text: string) =>
    text
      .replaceAll(CALLBACK_JOB, job.id)
      .replaceAll(CALLBACK_TOKEN, encodeURIComponent(callbackToken(CALLBACK_SECRET, job.id)))
      .replaceAll(CALLBACK_TASK, job.taskId)
      .replaceAll(CALLBACK_EXTERNAL, job.externalTaskId);
  return { path: fill(c.path), body: typeof c.body === "string" ? fill(c.body) : c.body };
}

/** Where a report can take a submitted job. */
const AFTER_SUBMITTED = new Set<string>(["submitted", "processing", "succeeded", "failed"]);

/** Every string inside a stored JSON value that Postgres could not have stored as written. */
function unstorable(value: unknown): string[] {
  const found: string[] = [];
  const pending = [value];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next === "string") {
      if (textProblem(next)) found.push(next.slice(0, 40));
    } else if (next !== null && typeof next === "object") {
      for (const [key, item] of Object.entries(next)) {
        if (textProblem(key)) found.push(key.slice(0, 40));
        pending.push(item);
      }
    }
  }
  return found;
}

/**
 * What is wrong with the job a callback case was sent to: it must still be in a state a report can move a
 * submitted job to, follow its own task, hold storable text, and have recorded the callback as events (an
 * answered one) or changed nothing at all (a refused one).
 */
async function callbackProblems(job: CallbackJob, before: Job, answer: RawAnswer): Promise<string[]> {
  const problems: string[] = [];
  const row = await h.api.db.prisma.job.findUnique({ where: { id: job.id } });
  if (!row) return ["the job is gone"];
  const events = await h.api.db.prisma.jobEvent.findMany({ where: { jobId: job.id, source: "webhook" } });
  if (!(JOB_STATUSES as readonly string[]).includes(row.status) || !AFTER_SUBMITTED.has(row.status))
    problems.push(`a submitted job went to ${row.status}`);
  if (row.upstreamStatus !== null && !(UPSTREAM_TASK_STATUSES as readonly string[]).includes(row.upstreamStatus))
    problems.push(`upstream_status ${JSON.stringify(row.upstreamStatus)} is not one of upstream's`);
  if (row.upstreamTaskId !== job.taskId) problems.push(`the job follows task ${row.upstreamTaskId}, not its own ${job.taskId}`);
  if (row.status === "succeeded" && !row.resultUrl) problems.push("succeeded without a result video");
  const text = unstorable([row.errorMessage, row.resultUrl, row.resultVideoId, row.upstreamStatus, ...events.map((e) => [e.detail, e.payload])]);
  if (text.length > 0) problems.push(`stored text Postgres cannot hold as written: ${JSON.stringify(text)}`);
  if (answer.status === 200) {
    if (events.length === 0) problems.push("an answered callback left no event");
    const said = (answer.json as { status?: string } | undefined)?.status;
    if (said !== row.status) problems.push(`answered status ${said}, the job is ${row.status}`);
  } else {
    if (events.length > 0) problems.push(`a refused callback (${answer.status}) left ${events.length} events`);
    const fields = (j: Job) => JSON.stringify([j.status, j.upstreamStatus, j.upstreamTaskId, j.errorCode, j.errorMessage, j.resultUrl, j.updatedAt]);
    if (fields(row) !== fields(before)) problems.push(`a refused callback (${answer.status}) changed the job: ${fields(before)} → ${fields(row)}`);
  }
  return problems;
}

it(
  `${RUNS} hostile requests derived from the document: no 5xx, a documented error body, no row written`,
  async () => {
    const started = Date.now();
    const kinds = new Map<string, number>();
    const statuses = new Map<number, number>();
    const callbacks = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(allCases(), async (c) => {
        const job = c.path.includes(CALLBACK_JOB) ? await submittedJob() : undefined;
        const jobBefore = job && (await h.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } }));
        const { path, body } = job ? aimedAt(c, job) : c;
        const before = await countRows(h.api.db);
        const answer = await sendRaw(h.api.url, {
          method: c.method,
          path,
          headers: { ...c.headers, "Content-Length": String(body === undefined ? 0 : Buffer.byteLength(body)) },
          body,
          timeoutMs: 30_000,
        });
        const kind = c.kind.split(" in ")[0]!;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const problems = problemsWith(c, answer);
        if (job && jobBefore) {
          problems.push(...(await callbackProblems(job, jobBefore, answer)));
          const outcome = answer.status === 200 ? `200 ${(answer.json as { status?: string }).status}` : String(answer.status);
          callbacks.set(outcome, (callbacks.get(outcome) ?? 0) + 1);
        }
        const after = await countRows(h.api.db);
        if (JSON.stringify(after) !== JSON.stringify(before))
          problems.push(`rows written: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        expect({ request: `${c.kind}: ${c.method} ${c.path.slice(0, 200)}`, problems }).toEqual({
          request: expect.any(String),
          problems: [],
        });
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: RUNS > 1_000 },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `fuzz: ${RUNS} runs (seed ${SEED}) in ${seconds} s; statuses ${JSON.stringify(Object.fromEntries(statuses))}; kinds ${JSON.stringify(Object.fromEntries(kinds))}; callbacks at a real job ${JSON.stringify(Object.fromEntries(callbacks))}`,
    );
  },
  60_000 + RUNS * 1_000,
);
