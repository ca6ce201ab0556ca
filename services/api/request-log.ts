/**
 * The gateway's log lines about the requests it answers (runtime-contract §27), each with the
 * request's id as `request_id`:
 * - one `debug` line per answered request — method, route template, status, duration — written
 *   only when the log level is debug or trace (nothing is built otherwise), from the gateway's
 *   answered-request hook (services/api/request-metrics.ts requestAnswered, which meters it too);
 * - the 5xx lines of services/api/failure-log.ts: a 500 is an error with its stack, a 503 a
 *   throttled warning without one. A 4xx is an expected answer: never more than the debug line.
 * The request's path and query are not written (a client may put anything there); the route
 * template is.
 */
import { failureLog, FailureLogger } from "./failure-log";

/** The logger the gateway writes with (its service logger). */
export interface RequestLogger extends FailureLogger {
  debug(...args: unknown[]): void;
}

/** What the per-request line says about one answered request. */
export interface AnsweredRequest {
  /** The request's id (services/api/request-id.ts). */
  requestId: string | undefined;
  method: string;
  /**
   * The route label GET /metrics uses too (services/api/request-metrics.ts routeLabel): the route
   * table's template (`/api/v1/servers/:id`), or `unmatched`.
   */
  route: string;
  status: number;
  /** Milliseconds from the request's arrival to the head of its answer. */
  durationMs: number;
}

export class RequestLog {
  private readonly failure: ReturnType<typeof failureLog>;

  /**
   * `perRequest`: write the debug line of every answered request (LOG_LEVEL debug or trace).
   * `failureWindowMs`: the 503 throttle of failureLog.
   */
  constructor(
    private readonly logger: RequestLogger,
    readonly perRequest: boolean,
    failureWindowMs?: number,
  ) {
    this.failure = failureLog(logger, failureWindowMs);
  }

  /** A request answered with a 5xx: the failure log's line (error with stack for a 500, throttled warning for a 503). */
  failed(status: number, method: string, path: string, err: unknown, requestId: string | undefined): void {
    this.failure(status, method, path, err, requestId);
  }

  /**
   * The debug line of an answered request: `{ request_id, method, route, status, duration_ms }`,
   * message `<METHOD> <route> <status> <ms> ms`. Does nothing unless `perRequest`; never throws.
   */
  answered(a: AnsweredRequest): void {
    if (!this.perRequest) return;
    const durationMs = Math.round(a.durationMs * 100) / 100;
    try {
      this.logger.debug(
        { request_id: a.requestId, method: a.method, route: a.route, status: a.status, duration_ms: durationMs },
        `${a.method} ${a.route} ${a.status} ${durationMs} ms`,
      );
    } catch {
      // a log line that cannot be written must not stop the answer
    }
  }
}
