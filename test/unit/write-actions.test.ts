/** The retry policy's check: a timed-out write is never repeated; everything else retryable is. */
import { Errors } from "moleculer";
import { NON_IDEMPOTENT_ACTIONS, shouldRetry } from "../../lib/write-actions";

describe("shouldRetry", () => {
  it("never repeats a timed-out write, but repeats a timed-out read", () => {
    for (const action of NON_IDEMPOTENT_ACTIONS) {
      expect(shouldRetry(new Errors.RequestTimeoutError({ action, nodeID: "n1" }))).toBe(false);
    }
    expect(shouldRetry(new Errors.RequestTimeoutError({ action: "sessions.list", nodeID: "n1" }))).toBe(true);
  });

  it("repeats a write that provably did not run or whose node died", () => {
    for (const action of NON_IDEMPOTENT_ACTIONS) {
      expect(shouldRetry(new Errors.ServiceNotAvailableError({ action, nodeID: "n1" }))).toBe(true);
      expect(shouldRetry(new Errors.ServiceNotFoundError({ action, nodeID: "n1" }))).toBe(true);
      expect(shouldRetry(new Errors.RequestRejectedError({ action, nodeID: "n1" }))).toBe(true);
    }
  });

  it("never repeats what is not retryable", () => {
    expect(shouldRetry(new Errors.MoleculerClientError("bad", 422, "CONTRACT_ERROR"))).toBe(false);
    expect(shouldRetry(new Error("boom"))).toBe(false);
    expect(shouldRetry(null)).toBe(false);
  });
});

describe("NON_IDEMPOTENT_ACTIONS", () => {
  it("holds the writes that count or store again when repeated, and not the idempotent close", () => {
    expect([...NON_IDEMPOTENT_ACTIONS]).toEqual(expect.arrayContaining(["sessions.create", "sessions.recordCall"]));
    expect(NON_IDEMPOTENT_ACTIONS.has("sessions.close")).toBe(false);
  });
});
