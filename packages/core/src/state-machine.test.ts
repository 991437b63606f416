import { JOB_STATUSES, UPSTREAM_TASK_STATUSES, type JobStatus, type UpstreamTaskStatus } from "./job-status";
import { decideTransition, type Decision, type JobEventInput } from "./state-machine";

/** Every distinct event the machine can receive (upstream_status once per upstream status). */
const EVENTS: readonly JobEventInput[] = [
  { type: "submit_started" },
  { type: "upstream_accepted" },
  ...UPSTREAM_TASK_STATUSES.map((status): JobEventInput => ({ type: "upstream_status", status })),
  { type: "submit_rejected" },
  { type: "cancel_requested" },
  { type: "deadline_exceeded" },
];

const label = (event: JobEventInput): string => (event.type === "upstream_status" ? `upstream_status:${event.status}` : event.type);

type EventLabel =
  | "submit_started"
  | "upstream_accepted"
  | "upstream_status:submitted"
  | "upstream_status:processing"
  | "upstream_status:succeed"
  | "upstream_status:failed"
  | "submit_rejected"
  | "cancel_requested"
  | "deadline_exceeded";

function eventOf(name: EventLabel): JobEventInput {
  const found = EVENTS.find((event) => label(event) === name);
  if (!found) throw new Error(`no event ${name}`);
  return found;
}

const go = (to: JobStatus): Decision => ({ change: true, to });
const DUPLICATE: Decision = { change: false, reason: "duplicate" };
const STALE: Decision = { change: false, reason: "stale" };
const TERMINAL: Decision = { change: false, reason: "terminal" };
const NA: Decision = { change: false, reason: "not_applicable" };

/** The whole transition function, written out by hand: 7 states × 9 events. */
const TABLE: ReadonlyArray<readonly [JobStatus, EventLabel, Decision]> = [
  ["queued", "submit_started", go("submitting")],
  ["queued", "upstream_accepted", NA],
  ["queued", "upstream_status:submitted", NA],
  ["queued", "upstream_status:processing", NA],
  ["queued", "upstream_status:succeed", NA],
  ["queued", "upstream_status:failed", NA],
  ["queued", "submit_rejected", go("failed")],
  ["queued", "cancel_requested", go("canceled")],
  ["queued", "deadline_exceeded", NA],

  ["submitting", "submit_started", DUPLICATE],
  ["submitting", "upstream_accepted", go("submitted")],
  ["submitting", "upstream_status:submitted", go("submitted")],
  ["submitting", "upstream_status:processing", go("processing")],
  ["submitting", "upstream_status:succeed", go("succeeded")],
  ["submitting", "upstream_status:failed", go("failed")],
  ["submitting", "submit_rejected", go("failed")],
  ["submitting", "cancel_requested", go("canceled")],
  ["submitting", "deadline_exceeded", NA],

  ["submitted", "submit_started", NA],
  ["submitted", "upstream_accepted", DUPLICATE],
  ["submitted", "upstream_status:submitted", DUPLICATE],
  ["submitted", "upstream_status:processing", go("processing")],
  ["submitted", "upstream_status:succeed", go("succeeded")],
  ["submitted", "upstream_status:failed", go("failed")],
  ["submitted", "submit_rejected", NA],
  ["submitted", "cancel_requested", go("canceled")],
  ["submitted", "deadline_exceeded", go("failed")],

  ["processing", "submit_started", NA],
  // The create answer arriving after a `processing` callback is older than the state.
  ["processing", "upstream_accepted", STALE],
  ["processing", "upstream_status:submitted", STALE],
  ["processing", "upstream_status:processing", DUPLICATE],
  ["processing", "upstream_status:succeed", go("succeeded")],
  ["processing", "upstream_status:failed", go("failed")],
  ["processing", "submit_rejected", NA],
  ["processing", "cancel_requested", go("canceled")],
  ["processing", "deadline_exceeded", go("failed")],

  ["succeeded", "submit_started", TERMINAL],
  ["succeeded", "upstream_accepted", TERMINAL],
  ["succeeded", "upstream_status:submitted", TERMINAL],
  ["succeeded", "upstream_status:processing", TERMINAL],
  ["succeeded", "upstream_status:succeed", TERMINAL],
  ["succeeded", "upstream_status:failed", TERMINAL],
  ["succeeded", "submit_rejected", TERMINAL],
  ["succeeded", "cancel_requested", TERMINAL],
  ["succeeded", "deadline_exceeded", TERMINAL],

  ["failed", "submit_started", TERMINAL],
  ["failed", "upstream_accepted", TERMINAL],
  ["failed", "upstream_status:submitted", TERMINAL],
  ["failed", "upstream_status:processing", TERMINAL],
  ["failed", "upstream_status:succeed", TERMINAL],
  ["failed", "upstream_status:failed", TERMINAL],
  ["failed", "submit_rejected", TERMINAL],
  ["failed", "cancel_requested", TERMINAL],
  ["failed", "deadline_exceeded", TERMINAL],

  ["canceled", "submit_started", TERMINAL],
  ["canceled", "upstream_accepted", TERMINAL],
  ["canceled", "upstream_status:submitted", TERMINAL],
  ["canceled", "upstream_status:processing", TERMINAL],
  ["canceled", "upstream_status:succeed", TERMINAL],
  ["canceled", "upstream_status:failed", TERMINAL],
  ["canceled", "submit_rejected", TERMINAL],
  ["canceled", "cancel_requested", TERMINAL],
  ["canceled", "deadline_exceeded", TERMINAL],
];

/** Independent of the implementation: the order the design states (queued → … → terminal). */
const RANK: Record<JobStatus, number> = {
  queued: 0,
  submitting: 1,
  submitted: 2,
  processing: 3,
  succeeded: 4,
  failed: 4,
  canceled: 4,
};
const TERMINALS: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

function apply(from: JobStatus, event: JobEventInput): JobStatus {
  const decision = decideTransition(from, event);
  return decision.change ? decision.to : from;
}

describe("decideTransition: the full table", () => {
  it.each(TABLE)("%s + %s", (from, event, expected) => {
    expect(decideTransition(from, eventOf(event))).toEqual(expected);
  });

  it("has exactly one row for every (state, event) pair", () => {
    expect(EVENTS).toHaveLength(9);
    expect(TABLE).toHaveLength(JOB_STATUSES.length * EVENTS.length);
    for (const status of JOB_STATUSES) {
      for (const event of EVENTS) {
        const rows = TABLE.filter(([from, name]) => from === status && name === label(event));
        expect({ pair: `${status} + ${label(event)}`, rows: rows.length }).toEqual({ pair: `${status} + ${label(event)}`, rows: 1 });
      }
    }
  });

  it("is pure: the same input always gives the same answer", () => {
    for (const [from, event, expected] of TABLE) {
      expect(decideTransition(from, eventOf(event))).toEqual(decideTransition(from, eventOf(event)));
      expect(decideTransition(from, eventOf(event))).toEqual(expected);
    }
  });
});

describe("decideTransition: properties", () => {
  it("never goes backwards, never 'changes' to the same state, and never moves a finished job", () => {
    for (const from of JOB_STATUSES) {
      for (const event of EVENTS) {
        const decision = decideTransition(from, event);
        if (TERMINALS.includes(from)) {
          expect(decision).toEqual(TERMINAL);
        } else if (decision.change) {
          expect(decision.to).not.toBe(from);
          expect(RANK[decision.to]).toBeGreaterThan(RANK[from]);
        }
      }
    }
  });

  it("stays monotonic along every sequence of up to 4 events from every state", () => {
    let checked = 0;
    const walk = (state: JobStatus, depth: number): void => {
      if (depth === 0) return;
      for (const event of EVENTS) {
        const next = apply(state, event);
        expect(RANK[next]).toBeGreaterThanOrEqual(RANK[state]);
        if (TERMINALS.includes(state)) expect(next).toBe(state);
        checked++;
        walk(next, depth - 1);
      }
    };
    for (const start of JOB_STATUSES) walk(start, 4);
    expect(checked).toBe(JOB_STATUSES.length * (9 + 81 + 729 + 6561));
  });

  it("cancel_requested finishes every unfinished job, whatever state it is in", () => {
    for (const from of JOB_STATUSES.filter((status) => !TERMINALS.includes(status))) {
      expect(decideTransition(from, { type: "cancel_requested" })).toEqual(go("canceled"));
    }
  });

  /** Every sequence over `alphabet` of length 1..maxLength (with repetitions). */
  function sequences<T>(alphabet: readonly T[], maxLength: number): T[][] {
    const out: T[][] = [];
    let frontier: T[][] = [[]];
    for (let length = 1; length <= maxLength; length++) {
      frontier = frontier.flatMap((prefix) => alphabet.map((item) => [...prefix, item]));
      out.push(...frontier);
    }
    return out;
  }

  function permutations<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
  }

  const run = (start: JobStatus, statuses: readonly UpstreamTaskStatus[]): JobStatus =>
    statuses.reduce<JobStatus>((state, status) => apply(state, { type: "upstream_status", status }), start);

  it("all 24 orders of the 4 upstream statuses end where the first terminal status says", () => {
    const orders = permutations(UPSTREAM_TASK_STATUSES);
    expect(orders).toHaveLength(24);
    for (const start of ["submitting", "submitted", "processing"] as const) {
      for (const order of orders) {
        const expected = order.indexOf("succeed") < order.indexOf("failed") ? "succeeded" : "failed";
        expect({ start, order, end: run(start, order) }).toEqual({ start, order, end: expected });
      }
    }
  });

  it("callbacks/polls lost, duplicated or reordered: the end depends only on the first terminal status seen", () => {
    // 4 + 16 + 64 + 256 + 1024 sequences, each from every state an upstream status can reach.
    const all = sequences(UPSTREAM_TASK_STATUSES, 5);
    expect(all).toHaveLength(1364);
    for (const start of ["submitting", "submitted", "processing"] as const) {
      for (const sequence of all) {
        const firstTerminal = sequence.find((status) => status === "succeed" || status === "failed");
        let expected: JobStatus;
        if (firstTerminal === "succeed") expected = "succeeded";
        else if (firstTerminal === "failed") expected = "failed";
        // No terminal answer: the furthest state reported, never behind where the job started.
        else if (start === "processing" || sequence.includes("processing")) expected = "processing";
        else expected = "submitted";
        expect({ start, sequence, end: run(start, sequence) }).toEqual({ start, sequence, end: expected });
      }
    }
  });

  it("a queued job ignores every upstream status (nothing was ever sent)", () => {
    for (const sequence of sequences(UPSTREAM_TASK_STATUSES, 3)) expect(run("queued", sequence)).toBe("queued");
  });

  it("once canceled, a late upstream answer (even succeed) changes nothing", () => {
    for (const start of ["submitting", "submitted", "processing"] as const) {
      const canceled = apply(start, { type: "cancel_requested" });
      expect(canceled).toBe("canceled");
      for (const sequence of sequences(UPSTREAM_TASK_STATUSES, 3)) expect(run(canceled, sequence)).toBe("canceled");
    }
  });
});
