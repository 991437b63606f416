import { z } from "zod";

/** A zod issue flattened for the public error body: which field, which rule, in words. */
export const ValidationDetailSchema = z
  .object({
    field: z.string().meta({ description: "dotted path of the bad field (`items.3.prompt`), `(body)` for the whole body" }),
    rule: z.string().meta({
      description:
        "the zod issue code (`too_big`, `invalid_type`, …), `unknown_field`, or the rule a refinement names (`no_nul`, `lone_surrogate`, `too_deep`, `url_round_trip`, …)",
    }),
    message: z.string(),
  })
  .meta({ id: "ValidationDetail" });
export type ValidationDetail = z.infer<typeof ValidationDetailSchema>;

export function toValidationDetails(error: z.ZodError): ValidationDetail[] {
  return error.issues.map((issue) => {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      // A key with no name (`?=x`, `{"": 1}`) is still a field the answer must point at.
      const keys = issue.keys.map((key) => (key === "" ? '""' : key));
      return {
        field: base ? `${base}.${keys.join(",")}` : keys.join(","),
        rule: "unknown_field",
        message: `unknown field(s): ${keys.join(", ")}`,
      };
    }
    // A refinement names its own rule (`no_nul`, `too_deep`, …); zod calls them all `custom`.
    const rule = issue.code === "custom" && typeof issue.params?.rule === "string" ? issue.params.rule : issue.code;
    return { field: base || "(body)", rule, message: issue.message };
  });
}

/** Every 4xx and 5xx answer. */
export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: "stable, machine-readable (`validation_failed`, `not_found`, …)" }),
      message: z.string(),
      details: z
        .union([z.array(ValidationDetailSchema), z.record(z.string(), z.unknown())])
        .optional()
        .meta({ description: "every bad field for `validation_failed`; context for some other codes" }),
    }),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
