import { Webhook } from "standardwebhooks";
import { assertWebhookSecret, verifyCallbackSignature } from "./signature";

const OLD = `whsec_${Buffer.from("old-secret-0123456789abcdef").toString("base64")}`;
const NEW = `whsec_${Buffer.from("new-secret-0123456789abcdef").toString("base64")}`;
const OTHER = `whsec_${Buffer.from("someone-else-0123456789").toString("base64")}`;
const BODY = JSON.stringify({ task_id: "1", task_status: "succeed" });

function signed(secrets: string[], { id = "msg_1", at = new Date(), body = BODY } = {}) {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(id, at, body)).join(" "),
  };
}

describe("verifyCallbackSignature", () => {
  it("accepts a signature by one of our secrets, from a string or the raw bytes", () => {
    expect(verifyCallbackSignature([NEW], BODY, signed([NEW]))).toEqual({ ok: true, webhookId: "msg_1" });
    expect(verifyCallbackSignature([NEW], Buffer.from(BODY), signed([NEW]))).toEqual({ ok: true, webhookId: "msg_1" });
  });

  it("rotation: two signatures in the header, or two secrets on our side", () => {
    expect(verifyCallbackSignature([NEW], BODY, signed([OLD, NEW])).ok).toBe(true);
    expect(verifyCallbackSignature([OLD], BODY, signed([OLD, NEW])).ok).toBe(true);
    expect(verifyCallbackSignature([OLD, NEW], BODY, signed([NEW])).ok).toBe(true);
    expect(verifyCallbackSignature([OLD, NEW], BODY, signed([OLD])).ok).toBe(true);
  });

  it("refuses another secret, a changed body, id or timestamp", () => {
    expect(verifyCallbackSignature([NEW], BODY, signed([OTHER]))).toEqual({ ok: false, reason: "mismatch" });
    expect(verifyCallbackSignature([NEW], `${BODY} `, signed([NEW]))).toEqual({ ok: false, reason: "mismatch" });
    expect(verifyCallbackSignature([NEW], BODY, { ...signed([NEW]), "webhook-id": "msg_2" })).toEqual({ ok: false, reason: "mismatch" });
    const headers = signed([NEW]);
    headers["webhook-timestamp"] = String(Number(headers["webhook-timestamp"]) - 1);
    expect(verifyCallbackSignature([NEW], BODY, headers)).toEqual({ ok: false, reason: "mismatch" });
    expect(verifyCallbackSignature([NEW], BODY, { ...signed([NEW]), "webhook-signature": "v2,abc" })).toEqual({ ok: false, reason: "mismatch" });
  });

  it("refuses a timestamp more than 5 minutes away, either way, even when correctly signed", () => {
    const now = Date.now();
    expect(verifyCallbackSignature([NEW], BODY, signed([NEW], { at: new Date(now - 6 * 60_000) }))).toEqual({ ok: false, reason: "timestamp" });
    expect(verifyCallbackSignature([NEW], BODY, signed([NEW], { at: new Date(now + 6 * 60_000) }))).toEqual({ ok: false, reason: "timestamp" });
    expect(verifyCallbackSignature([NEW], BODY, signed([NEW], { at: new Date(now - 4 * 60_000) })).ok).toBe(true);
    expect(verifyCallbackSignature([NEW], BODY, { ...signed([NEW]), "webhook-timestamp": "soon" })).toEqual({ ok: false, reason: "timestamp" });
  });

  it("refuses an unsigned callback, and a repeated header", () => {
    expect(verifyCallbackSignature([NEW], BODY, {})).toEqual({ ok: false, reason: "missing" });
    const { "webhook-signature": _s, ...noSignature } = signed([NEW]);
    expect(verifyCallbackSignature([NEW], BODY, noSignature)).toEqual({ ok: false, reason: "missing" });
    expect(verifyCallbackSignature([NEW], BODY, { ...signed([NEW]), "webhook-id": ["msg_1", "msg_1"] })).toEqual({ ok: false, reason: "missing" });
  });
});

describe("assertWebhookSecret", () => {
  it("accepts whsec_ + base64 and refuses anything else without echoing it", () => {
    expect(() => assertWebhookSecret(NEW)).not.toThrow();
    for (const bad of ["plain-secret-value", "whsec_", "whsec_!!not base64!!"]) {
      expect(() => assertWebhookSecret(bad)).toThrow(/whsec_/);
      try {
        assertWebhookSecret(bad);
      } catch (err) {
        if (bad.length > 6) expect((err as Error).message).not.toContain(bad);
      }
    }
  });
});
