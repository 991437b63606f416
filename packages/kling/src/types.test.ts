import { KlingCallbackSchema, KlingTaskSchema } from "./types";

const VIDEO = { id: "860000000000000001", url: "https://cdn.example/v.mp4", duration: "9.5", watermark_url: "https://cdn.example/v-wm.mp4" };

const legacy = (status: string, extra: object = {}) => ({
  task_id: "815336423632572487",
  task_status: status,
  task_status_msg: "",
  task_info: { external_task_id: "job-1-1", parent_video: { id: "123456789012345678", url: "u", duration: "5.0" } },
  created_at: 1,
  updated_at: 2,
  ...extra,
});

const v3 = (status: string, extra: object = {}) => ({
  id: "815336423632572487",
  status,
  status_msg: "",
  external_id: "job-1-1",
  created_at: 1,
  updated_at: 2,
  outputs: [],
  billing: [],
  ...extra,
});

describe("one internal form for every shape and spelling upstream sends", () => {
  describe.each([
    ["query answer", KlingTaskSchema],
    ["callback", KlingCallbackSchema],
  ] as const)("%s", (_what, schema) => {
    it.each(["succeed", "succeeded"])("legacy shape, success spelled %s, reads as succeed with its video and deductions", (spelling) => {
      const parsed = schema.parse(
        legacy(spelling, { task_result: { videos: [VIDEO] }, final_unit_deduction: "2", final_balance_deduction: { quota: "0.75", list_price: "1.40" } }),
      );
      expect(parsed).toMatchObject({
        task_id: "815336423632572487",
        task_status: "succeed",
        task_info: { external_task_id: "job-1-1" },
        task_result: { videos: [{ id: VIDEO.id, url: VIDEO.url, duration: "9.5" }] },
        final_unit_deduction: "2",
        final_balance_deduction: { quota: "0.75", list_price: "1.40" },
      });
    });

    it.each(["succeed", "succeeded"])("3.x shape, success spelled %s, reads as the legacy form", (spelling) => {
      const parsed = schema.parse(
        v3(spelling, {
          outputs: [{ type: "video", ...VIDEO }],
          billing: [
            { type: "unit", amount: "2.5" },
            { type: "balance", quota: "0.8", list_price: "1.0" },
          ],
        }),
      );
      expect(parsed).toEqual({
        task_id: "815336423632572487",
        task_status: "succeed",
        task_status_msg: "",
        task_info: { external_task_id: "job-1-1" },
        task_result: { videos: [VIDEO] },
        final_unit_deduction: "2.5",
        final_balance_deduction: { quota: "0.8", list_price: "1.0" },
        created_at: 1,
        updated_at: 2,
      });
    });

    it("3.x failed task: status message, no result, a zero deduction", () => {
      const parsed = schema.parse(v3("failed", { status_msg: "content risk control", billing: [{ type: "unit", amount: "0" }] }));
      expect(parsed).toMatchObject({ task_status: "failed", task_status_msg: "content risk control", final_unit_deduction: "0" });
      expect(parsed.task_result).toBeUndefined();
    });

    it("3.x without external_id carries no task_info (a proxy that drops it)", () => {
      const { external_id: _dropped, ...body } = v3("processing");
      const parsed = schema.parse(body);
      expect(parsed.task_status).toBe("processing");
      expect(parsed.task_info).toBeUndefined();
    });

    it("a deduction it cannot read is dropped, never a reason to refuse the report", () => {
      for (const bad of [{ final_unit_deduction: "-1" }, { final_unit_deduction: { a: 1 } }, { final_unit_deduction: "1e5" }, { final_balance_deduction: { quota: "1" } }]) {
        const parsed = schema.parse(legacy("failed", bad));
        expect(parsed.final_unit_deduction).toBeUndefined();
        expect(parsed.final_balance_deduction).toBeUndefined();
      }
      expect(schema.parse(legacy("failed", { final_unit_deduction: 3 })).final_unit_deduction).toBe("3");
      expect(schema.parse(v3("failed", { billing: "no" })).final_unit_deduction).toBeUndefined();
    });

    it("refuses an unknown status and a body that is neither shape", () => {
      expect(schema.safeParse(legacy("done")).success).toBe(false);
      expect(schema.safeParse(v3("done")).success).toBe(false);
      expect(schema.safeParse({ status: "succeed" }).success).toBe(false);
    });
  });

  it("a callback keeps a result video without a duration; a query answer needs one", () => {
    const body = v3("succeeded", { outputs: [{ type: "video", id: "1", url: "u" }] });
    expect(KlingCallbackSchema.parse(body).task_result?.videos).toEqual([{ id: "1", url: "u" }]);
    expect(KlingTaskSchema.safeParse(body).success).toBe(false);
  });

  it("3.x outputs that are not videos are skipped", () => {
    const parsed = KlingCallbackSchema.parse(v3("succeeded", { outputs: [{ type: "image", id: "i", url: "x" }, { type: "video", ...VIDEO }] }));
    expect(parsed.task_result?.videos.map((v) => v.id)).toEqual([VIDEO.id]);
  });
});
