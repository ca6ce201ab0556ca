/**
 * How the gateway logs the requests it answers with a 5xx. A 500 is a bug: one error line with the
 * stack, every time. A 503 is expected while a service has no live node: one warning line without a
 * stack, at most once per `windowMs` for each cause, with the count of the ones it stood for, so a
 * dead service does not flood the log (it once wrote 3,053 stack traces in 70 s). Each line carries
 * the request's id as `request_id` (the first of a throttled 503 window: the one it was written for).
 */
export interface FailureLogger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Returns `log(status, method, path, err, requestId)`, to call for every 5xx answer. */
export function failureLog(logger: FailureLogger, windowMs = 10_000, now: () => number = Date.now) {
  const windows = new Map<string, { until: number; suppressed: number }>();
  return function log(status: number, method: string, path: string, err: unknown, requestId?: string): void {
    const fields = { request_id: requestId };
    if (status !== 503) {
      logger.error(fields, `${method} ${path} answered ${status}:`, err);
      return;
    }
    const e = (typeof err === "object" && err !== null ? err : {}) as { type?: unknown; message?: unknown };
    const cause = `${String(e.type ?? "UNAVAILABLE")}: ${String(e.message ?? err)}`;
    const t = now();
    const w = windows.get(cause);
    if (w !== undefined && t < w.until) {
      w.suppressed += 1;
      return;
    }
    const more = w !== undefined && w.suppressed > 0 ? ` (and ${w.suppressed} more like it in the last ${windowMs / 1000} s)` : "";
    windows.set(cause, { until: t + windowMs, suppressed: 0 });
    if (windows.size > 1000) windows.clear();
    logger.warn(fields, `${method} ${path} answered 503: ${cause}${more}`);
  };
}
