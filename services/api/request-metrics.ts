/**
 * The gateway's per-request measure (runtime-contract §27): HTTP requests by route template and
 * status, and their latency, into this node's families:
 *
 * - `console_mcp_http_requests_total{method, route, status}`
 * - `console_mcp_http_request_duration_seconds{method, route}` (histogram, 0.25 ms … 10 s)
 *
 * `route` is the route table's template (`/api/v1/servers/:id`, `/metrics`), never the raw path; a
 * request that matched no route, or was answered before routing (a CORS preflight, the Host and
 * Origin guard), is `unmatched`. `method` is the route's; for an unmatched request, the request's
 * method when it is one of a fixed list, else `other`. `status` is the answer's code. So the number
 * of series is bounded by the route table, whatever clients send.
 *
 * The gateway calls `requestStarted` when a request arrives and `requestAnswered` once, when the
 * head of its answer is written (services/api.service.ts); that hook is the one place a request's
 * outcome is known with its route, status and duration, so the per-request log line (LOG_LEVEL
 * debug, services/api/request-log.ts: the same route label, the request id) is written there too.
 * The fast path makes no closure and no listener per request: a start instant and the meter on the
 * request, a Map lookup and prom-client `inc`/`observe` on children kept per route (lib/metrics/families.ts).
 */
import type { IncomingMessage } from "node:http";
import { HistogramFamily, HistogramSeries, CounterFamily, CounterSeries, HTTP_SECONDS_BUCKETS } from "../../lib/metrics/families";
import type { NodeMetrics } from "../../lib/metrics/node-metrics";
import type { RequestLog } from "./request-log";
import { fullPath, RouteSpec } from "./routes";

/** The `route` label of a request that matched no route of the table. */
export const UNMATCHED_ROUTE = "unmatched";

/** Methods an unmatched request is labelled with as they are; any other is `other`. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** What the meter reads of a request (the gateway's request type carries these). */
export interface MeteredRequest extends IncomingMessage {
  /** The route the request matched (set by the gateway's access step). */
  $routeSpec?: RouteSpec;
  /** performance.now() when the request reached the gateway. */
  $startedAt?: number;
  /** The meter that times this request (none: metrics are off). */
  $meter?: RequestMeter;
  /** Where this request's debug line goes (none: the log level is above debug). */
  $requestLog?: RequestLog;
  /** The request's id (services/api/request-id.ts), for its log line. */
  $requestID?: string;
}

/** The series of one (method, route): its requests per status and its latency histogram. */
interface RouteSeries {
  method: string;
  route: string;
  byStatus: Map<number, CounterSeries>;
  latency: HistogramSeries;
}

/** The `route` label of a request: its route's template, or `unmatched`. */
export function routeLabel(req: Pick<MeteredRequest, "$routeSpec">): string {
  return req.$routeSpec === undefined ? UNMATCHED_ROUTE : fullPath(req.$routeSpec);
}

/**
 * One gateway's request counts and latencies. `requestStarted`/`requestAnswered` are the calls the
 * gateway makes; the families live in the node's metrics (`nodeMetrics(broker)`).
 */
export class RequestMeter {
  readonly requests: CounterFamily;
  readonly latency: HistogramFamily;
  private readonly byRoute = new Map<RouteSpec, RouteSeries>();
  private readonly unmatched = new Map<string, RouteSeries>();

  constructor(metrics: NodeMetrics) {
    this.requests = metrics.counter("console_mcp_http_requests_total", "HTTP requests answered, by method, route template and status", [
      "method",
      "route",
      "status",
    ]);
    this.latency = metrics.histogram(
      "console_mcp_http_request_duration_seconds",
      "Time from a request's arrival to the head of its answer, by method and route template",
      ["method", "route"],
      HTTP_SECONDS_BUCKETS,
    );
  }

  /** Counts one answered request: its status, and its duration in milliseconds. */
  record(route: RouteSpec | undefined, method: string | undefined, status: number, durationMs: number): void {
    const series = route === undefined ? this.unmatchedSeries(method) : this.routeSeries(route);
    let count = series.byStatus.get(status);
    if (count === undefined) {
      count = this.requests.child([series.method, series.route, String(status)]);
      series.byStatus.set(status, count);
    }
    count.inc();
    series.latency.observe(durationMs / 1000);
  }

  private routeSeries(route: RouteSpec): RouteSeries {
    let series = this.byRoute.get(route);
    if (series === undefined) {
      series = this.newSeries(route.method, fullPath(route));
      this.byRoute.set(route, series);
    }
    return series;
  }

  private unmatchedSeries(method: string | undefined): RouteSeries {
    const label = method !== undefined && KNOWN_METHODS.has(method) ? method : "other";
    let series = this.unmatched.get(label);
    if (series === undefined) {
      series = this.newSeries(label, UNMATCHED_ROUTE);
      this.unmatched.set(label, series);
    }
    return series;
  }

  private newSeries(method: string, route: string): RouteSeries {
    return { method, route, byStatus: new Map(), latency: this.latency.child([method, route]) };
  }
}

/**
 * Marks a request's arrival for `meter` (null: metrics are off) and for `log`'s per-request line
 * (written only when `log.perRequest`); when neither wants it, nothing is timed.
 */
export function requestStarted(req: MeteredRequest, meter: RequestMeter | null, log: RequestLog | null = null): void {
  const logged = log?.perRequest === true ? log : undefined;
  if (meter === null && logged === undefined) return;
  if (meter !== null) req.$meter = meter;
  if (logged !== undefined) req.$requestLog = logged;
  req.$startedAt = performance.now();
}

/**
 * THE hook of an answered request: the gateway calls it once per request, when the head of its
 * answer is written (a JSON answer, an error answer, a CORS preflight, an event stream opened),
 * with the answer's status. Here the request is counted under its route template and status, with
 * its duration (arrival → answer head), and at LOG_LEVEL debug its line is written (request id,
 * method, route, status, duration). Never throws.
 */
export function requestAnswered(req: MeteredRequest, status: number): void {
  const meter = req.$meter;
  const log = req.$requestLog;
  if (meter === undefined && log === undefined) return;
  // once per request, whatever path answers it
  req.$meter = undefined;
  req.$requestLog = undefined;
  const durationMs = performance.now() - (req.$startedAt as number);
  if (meter !== undefined) meter.record(req.$routeSpec, req.method, status, durationMs);
  if (log !== undefined) log.answered({ requestId: req.$requestID, method: req.method ?? "GET", route: routeLabel(req), status, durationMs });
}
