/**
 * Turns any error the gateway meets into the contract's HTTP answer (§6.4): contract errors keep
 * their status and detail; routing misses become 404 or 405; broker failures become 503; anything
 * else is a 500 whose details stay in the log.
 */
import { isContractError } from "../../lib/errors";
import { allowedMethods } from "./routes";

export interface HttpErrorAnswer {
  status: number;
  body: { detail: unknown };
  headers: Record<string, string>;
}

const UNAVAILABLE_TYPES = new Set([
  "SERVICE_NOT_FOUND",
  "SERVICE_NOT_AVAILABLE",
  "REQUEST_TIMEOUT",
  "REQUEST_SKIPPED",
  "REQUEST_REJECTED",
  "QUEUE_FULL",
  "CIRCUIT_BREAKER_OPEN",
  "BROKER_NOT_STARTED",
]);

interface ErrorLike {
  code?: unknown;
  type?: unknown;
  message?: unknown;
  data?: unknown;
}

export function httpErrorAnswer(err: unknown, method: string, pathname: string): HttpErrorAnswer {
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  if (isContractError(err)) {
    const status = err.code;
    return { status, body: { detail: status === 422 ? err.data : err.message }, headers: {} };
  }
  if (e.type === "UNABLE_DECODE_PARAM") {
    return {
      status: 422,
      body: { detail: [{ type: "value_error", loc: ["path"], msg: "Path parameter is not valid percent-encoding" }] },
      headers: {},
    };
  }
  if (e.type === "NOT_FOUND" && e.code === 404) {
    const allowed = allowedMethods(pathname);
    if (allowed.length > 0 && !allowed.includes(method as "GET" | "POST")) {
      return { status: 405, body: { detail: "Method Not Allowed" }, headers: { Allow: allowed.join(", ") } };
    }
    return { status: 404, body: { detail: "Not Found" }, headers: {} };
  }
  if ((typeof e.type === "string" && UNAVAILABLE_TYPES.has(e.type)) || e.code === 503) {
    return { status: 503, body: { detail: "Service unavailable, try again shortly" }, headers: { "Retry-After": "1" } };
  }
  return { status: 500, body: { detail: "Internal Server Error" }, headers: {} };
}
