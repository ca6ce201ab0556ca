/**
 * api: the HTTP gateway (moleculer-web). Maps the paths of the route table (/api/v1, and /metrics)
 * onto service actions, applies CORS and the body limit, and turns every error into the contract's answer.
 * It holds no domain logic; liveness and readiness are its own because they describe this node's
 * view of the broker.
 */
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from "node:http";
import { Errors } from "moleculer";
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { Config, VERSION } from "../lib/config";
import { ContractError } from "../lib/errors";
import { nodeMetrics } from "../lib/metrics/node-metrics";
import { formatInstant } from "../lib/time";
import type { AuditContext } from "../lib/access";
import type { AuditEntry } from "../lib/store/audit";
import { accessDenial, contractPath, presentedKey } from "./api/access";
import { optionalObjectBody, parseJsonBody, readRawBody, requireObjectBody } from "./api/body";
import { allowedOrigins, applyCors, corsPolicy } from "./api/cors";
import { CheckResult, CONTRACT_SERVICES, readiness, STORE_SERVICES } from "./api/health";
import { ConnectionDrain, DrainResult, trackRequests } from "./api/drain";
import { EventHub, type EventHubStats } from "./api/events/hub";
import { parseStreamFilter, resumePoint } from "./api/events/filter";
import { STREAM_SOURCES } from "./api/events/sources";
import { RequestGuard } from "./api/guard";
import { KeyPrincipal, Keyring, KeySnapshot } from "./api/keyring";
import { RateLimitedError, runsOf } from "./api/rate-limit";
import { answerClientError, httpErrorAnswer, writeErrorAnswer } from "./api/http-errors";
import { splitRequestUrl } from "./api/query";
import { clientRequestId } from "./api/request-id";
import { RequestLog, RequestLogger } from "./api/request-log";
import { MeteredRequest, RequestMeter, requestAnswered, requestStarted } from "./api/request-metrics";
import { openApiDocument } from "./api/openapi/document";
import { checksIgnoredBody, routePrefix, ROUTES, RouteSpec } from "./api/routes";

/** How often a gateway asks the access service whether its keys are current. */
export const KEY_POLL_INTERVAL_MS = 2000;
/** How often a gateway hands over the keys it saw used (`last_used_at`). */
export const KEY_USAGE_FLUSH_MS = 5000;
/** How long a gateway trusts its last look at whether the access service runs. */
const ACCESS_LOOKUP_MS = 500;

interface GatewayRequest extends MeteredRequest {
  $params: Record<string, unknown>;
  $route?: unknown;
  $alias?: unknown;
  /** The endpoint moleculer-web's aliasHandler chose for the call. */
  $endpoint?: unknown;
  /**
   * This request's id (services/api/request-id.ts: its X-Request-ID or X-Correlation-ID when safe,
   * else a new one): the call's requestID, the answer's X-Request-ID, the log lines' request_id.
   */
  $requestID?: string;
  parsedUrl?: string;
  originalUrl?: string;
  query?: Record<string, unknown>;
  /** The route the request matched (set by the access step). */
  $routeSpec?: RouteSpec;
  /** Who the request is and what it does, for the audit log (§25.2); set by the access step. */
  $audit?: AuditContext;
  /** The principal of a valid key (null: anonymous). */
  $principal?: KeyPrincipal | null;
  /** The meta of the action call (its `$audited` flag comes back in it). */
  $callMeta?: Record<string, unknown>;
}

/** A moleculer-web alias (moleculer-web/src/alias.js), as far as the request path reads it. */
interface Alias {
  action: string | null;
  route: { callOptions?: Record<string, unknown> };
}

/** The parts of the gateway service (moleculer-web's methods and ours) the request path uses. */
interface Gateway {
  broker: ServiceBroker;
  resolveAlias(url: string, method?: string): { alias: Alias; params: Record<string, unknown> } | false;
  aliasHandler(req: IncomingMessage, res: ServerResponse, alias: Alias): Promise<unknown>;
  errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown): void;
}

type Next = (err?: unknown) => void;

/**
 * Sets `req.$params` from the route's input: the query, the path's parameters, the JSON body (read
 * and checked here), or a mix (routes.ts InputKind). Throws the body's 4xx.
 */
async function shapeParams(route: RouteSpec, req: GatewayRequest): Promise<void> {
  const pathParams: Record<string, unknown> = {};
  for (const key of route.path.split("/").filter((p) => p.startsWith(":"))) {
    pathParams[key.slice(1)] = req.$params[key.slice(1)];
  }
  switch (route.input) {
    case "query":
    case "path":
    case "path-and-query":
      // A body the route ignores still meets the body rules (routes.ts checksIgnoredBody).
      if (checksIgnoredBody(route)) parseJsonBody(await readRawBody(req), req.headers["content-type"]);
      if (route.input === "query") req.$params = { ...(req.query ?? {}) };
      else if (route.input === "path") req.$params = pathParams;
      else req.$params = { ...(req.query ?? {}), ...pathParams };
      return;
    case "object-body":
    case "path-and-optional-body":
    case "path-and-object-body": {
      const raw = await readRawBody(req);
      const body = parseJsonBody(raw, req.headers["content-type"]);
      if (route.input === "object-body") req.$params = requireObjectBody(body);
      else if (route.input === "path-and-object-body") req.$params = { ...requireObjectBody(body), ...pathParams };
      else req.$params = { ...optionalObjectBody(body), ...pathParams };
      return;
    }
  }
}

/**
 * Builds the connect-style step that turns a request into the action params of its route
 * (shapeParams). It makes no named closure per request (tsx compiles with keepNames, and each
 * named closure costs a defineProperty).
 */
function paramShaper(route: RouteSpec) {
  return function shapeRouteParams(req: GatewayRequest, _res: ServerResponse, next: Next): void {
    shapeParams(route, req).then(() => next(), next);
  };
}

/**
 * Writes a JSON success answer with its length and the request's X-Request-ID; the CORS headers are
 * already set. `headers` (the action's `$responseHeaders`) come first, so they cannot replace the
 * type or the length. The headers go to writeHead in one object (a header set beforehand makes
 * Node validate and copy every header one by one). A 204 has no body (DELETE /servers/{id}). A text
 * answer (an action that sets `$responseType` and returns a string: GET /metrics) is written as it is.
 */
function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  requestID: string | undefined,
  headers: Record<string, string> | undefined,
  responseType?: string,
): void {
  if (headers !== undefined) for (const name of Object.keys(headers)) res.setHeader(name, headers[name]);
  const own: OutgoingHttpHeaders = {};
  if (requestID !== undefined && requestID !== "") own["X-Request-ID"] = requestID;
  if (status === 204) {
    res.writeHead(status, own);
    res.end();
    return;
  }
  const text = responseType !== undefined && typeof payload === "string";
  const body = text ? payload : JSON.stringify(payload);
  own["Content-Type"] = text ? responseType : "application/json; charset=utf-8";
  own["Content-Length"] = Buffer.byteLength(body);
  res.writeHead(status, own);
  res.end(body);
}

/**
 * Answers an error with the contract's body (§6.4) and the request's X-Request-ID. Never throws: it
 * is the last step of every failure. A 5xx is logged (services/api/failure-log.ts); a 4xx only gets
 * the per-request debug line.
 */
function sendErrorAnswer(req: GatewayRequest, res: ServerResponse, err: unknown, log: RequestLog): void {
  const pathname = String(req.originalUrl ?? req.url ?? "/").split("?")[0];
  const method = String(req.method ?? "GET");
  const answer = httpErrorAnswer(err, method, pathname);
  if (answer.status >= 500) {
    try {
      log.failed(answer.status, method, pathname, err, req.$requestID);
    } catch {
      // a log line that cannot be written must not stop the answer
    }
  }
  // A failure after the answer began (a stream) only ends it: the request was answered already.
  const answers = !res.headersSent;
  if (req.$requestID !== undefined) answer.headers["X-Request-ID"] = req.$requestID;
  writeErrorAnswer(res, answer);
  if (answers) requestAnswered(req, res.statusCode);
}

export default function apiService(
  config: Pick<
    Config,
    "host" | "port" | "corsOrigins" | "frontendHost" | "frontendPort" | "requestTimeoutMs" | "services" | "events" | "access" | "metrics" | "logLevel"
  >,
  // biome-ignore lint/suspicious/noExplicitAny: the settings are moleculer-web's (port, ip, routes), unknown to ServiceSchema's default
): ServiceSchema<any> {
  const cors = corsPolicy(allowedOrigins(config));
  const guard = new RequestGuard({ bindHost: config.host, allowedHosts: config.access.allowedHosts, cors });
  const keyring = new Keyring(config.access.adminKey);
  const routeOfAction = new Map(ROUTES.map((r) => [r.action, r]));
  // The gateway's request lines (services/api/request-log.ts); set in created(), when the service's logger exists.
  const quiet = (): void => undefined;
  let requestLog = new RequestLog({ debug: quiet, warn: quiet, error: quiet }, false);
  let log: ServiceBroker["logger"] | null = null;
  let broker: ServiceBroker | null = null;
  const timers: NodeJS.Timeout[] = [];
  const startedAtMs = Date.now();
  // The event stream of GET /events (services/api/events/hub.ts); created with the service.
  let hub: EventHub | null = null;
  // The gateway's request tracking (services/api/drain.ts); set in created().
  let requests: ConnectionDrain | null = null;
  // Request counts and latencies for GET /metrics (services/api/request-metrics.ts); null when metrics are off.
  let meter: RequestMeter | null = null;

  // The broker events the stream is made of (services/api/events/sources.ts): handed over as they come.
  const events: Record<string, (ctx: Context) => void> = {};
  for (const [name, toStream] of Object.entries(STREAM_SOURCES)) {
    events[name] = (ctx: Context) => hub?.publish(toStream(ctx.params));
  }

  /**
   * GET /events (runtime-contract §23.1): the filter (422 for an unknown type), the resume point,
   * then the hub writes the stream (503 at the client cap, or while the gateway drains).
   */
  const openEventStream = (req: GatewayRequest, res: ServerResponse, query: Record<string, unknown>): void => {
    const filter = parseStreamFilter(query);
    const from = resumePoint(req.headers["last-event-id"], query);
    if (hub === null || requests?.draining() === true) {
      throw new ContractError(503, "The gateway is shutting down; reconnect to another one");
    }
    const headers: Record<string, string> = {};
    if (req.$requestID !== undefined && req.$requestID !== "") headers["X-Request-ID"] = req.$requestID;
    hub.open(res, filter, from, headers);
    requestAnswered(req, 200);
    if (req.$routeSpec !== undefined) {
      streams.set(res, { key: presentedKey(req), address: req.socket.remoteAddress, route: req.$routeSpec });
      res.once("close", () => streams.delete(res));
    }
  };

  /**
   * The open event streams and what admitted each (§25.1): a stream outlives the check at its start,
   * so whenever the keys change (and at each poll, for expiries) each is checked again as a new
   * request would be, and one that would now be refused (keyed mode begun, its key deleted, rotated
   * or expired, a role lowered) is ended; its client reconnects and gets the 401/403.
   */
  const streams = new Map<ServerResponse, { key: string | undefined; address: string | undefined; route: RouteSpec }>();
  const recheckStreams = (): void => {
    if (streams.size === 0) return;
    const keyed = keyring.keyed();
    for (const [res, stream] of streams) {
      const principal = !keyed || stream.key === undefined ? null : keyring.authenticate(stream.key);
      if (accessDenial(stream.route, keyed, principal, stream.address) === null) continue;
      streams.delete(res);
      res.end();
    }
  };

  /**
   * True when a live node of the cluster runs the access service (keys, audit, rate limits). Read from
   * the registry at most every ACCESS_LOOKUP_MS (a deployment without it would otherwise list the
   * registry's services on every request).
   */
  let accessSeen = { at: -Infinity, runs: false };
  const accessRuns = (): boolean => {
    if (broker === null) return false;
    const now = performance.now();
    if (now - accessSeen.at >= ACCESS_LOOKUP_MS) accessSeen = { at: now, runs: nodesRunning(broker, "access").length > 0 };
    return accessSeen.runs;
  };

  // The keys: pushed by the access service (api.accessChanged) and polled (one load at a time).
  let loading: Promise<void> | null = null;
  const loadKeys = (): Promise<void> => {
    if (loading !== null) return loading;
    const since = keyring.loaded ? keyring.version : undefined;
    loading = (broker as ServiceBroker)
      .call<KeySnapshot | { version: number }, { since?: number }>("access.keySnapshot", since === undefined ? {} : { since }, {
        timeout: 2000,
        retries: 0,
      })
      .then((answer) => {
        if ("keys" in answer && keyring.install(answer)) recheckStreams();
      })
      .finally(() => {
        loading = null;
      });
    return loading;
  };

  const flushUsage = async (): Promise<void> => {
    const used = keyring.takeUsage();
    if (Object.keys(used).length === 0 || !accessRuns()) {
      keyring.restoreUsage(used);
      return;
    }
    try {
      await (broker as ServiceBroker).call("access.touch", { used }, { timeout: 5000, retries: 0 });
    } catch (err) {
      keyring.restoreUsage(used);
      log?.debug(`last_used_at of ${Object.keys(used).length} key(s) not written yet: ${(err as Error).message}`);
    }
  };

  /**
   * Records audit entries through the access service (denials, failures, and writes whose action
   * recorded nothing). Never throws: an entry that cannot be written is logged (without details).
   */
  const recordAudit = async (entries: AuditEntry[]): Promise<void> => {
    if (broker === null || !accessRuns()) return;
    try {
      await broker.call("access.record", { entries }, { timeout: config.requestTimeoutMs, retries: 0 });
    } catch (err) {
      log?.warn(
        { request_id: entries[0]?.request_id ?? undefined },
        `audit: ${entries.length} entr${entries.length === 1 ? "y" : "ies"} (${entries.map((e) => e.action).join(", ")}) not recorded: ${(err as Error).message}`,
      );
    }
  };

  /** The audit entry of a request's outcome, from its audit context. */
  const auditEntry = (ctx: AuditContext, outcome: AuditEntry["outcome"], status: number, details?: Record<string, unknown>): AuditEntry => ({
    actor: ctx.actor,
    role: ctx.role,
    action: ctx.action,
    target: ctx.target,
    outcome,
    status,
    request_id: ctx.request_id,
    ...(details === undefined ? {} : { details }),
  });

  /** Who a request is, for the audit log: the key's name and role, or anonymous@<client address>. */
  const auditContext = (req: GatewayRequest, route: RouteSpec | undefined, params: Record<string, unknown>): AuditContext => {
    const principal = req.$principal ?? null;
    const targetValue = route?.target === undefined ? undefined : params[route.target.param];
    return {
      actor: principal === null ? `anonymous@${req.socket.remoteAddress ?? "unknown"}` : principal.name,
      role: principal === null ? null : principal.role,
      action: route === undefined ? "http.request" : (route.audit ?? route.action),
      target: route?.target === undefined || typeof targetValue !== "string" ? null : `${route.target.kind}:${targetValue}`,
      request_id: req.$requestID ?? null,
      status: route?.status ?? 200,
    };
  };

  /**
   * The rate limit of a request (§25.3): per key, or per client address for an anonymous request;
   * the key's own limit, else the configured default; 0 = none. Resolves null when it may proceed.
   * A failure of the shared bucket lets the request through (logged): limits never take the API down.
   */
  const takeTokens = async (req: GatewayRequest, kind: "req" | "runs", n: number): Promise<RateLimitedError | null> => {
    const principal = req.$principal ?? null;
    const own = principal === null ? null : kind === "req" ? principal.rateLimitRps : principal.rateLimitRuns;
    const rate = own ?? (kind === "req" ? config.access.rateLimitRps : config.access.rateLimitRuns);
    if (rate <= 0 || n <= 0 || broker === null || !accessRuns()) return null;
    const who = principal === null ? `addr:${req.socket.remoteAddress ?? "unknown"}` : `key:${principal.id ?? principal.name}`;
    try {
      const answer = await broker.call<{ granted: boolean; retry_after_s: number }, { bucket: string; n: number; rate: number }>(
        "access.take",
        { bucket: `${kind}:${who}`, n, rate },
        { timeout: 2000, retries: 0 },
      );
      return answer.granted ? null : new RateLimitedError(answer.retry_after_s);
    } catch (err) {
      log?.warn({ request_id: req.$requestID }, `rate limit not applied (the shared bucket did not answer): ${(err as Error).message}`);
      return null;
    }
  };

  /**
   * The access step of a matched route (§25.1), before its body is read: the key and the role
   * (sync, from the keyring), then the request rate limit (when on). Loads the keys first when the
   * access service runs and none are held yet (a fresh gateway); 503 when they cannot be loaded.
   */
  // (One function for every request: no closure is made per request on this path.)
  const decideAccess = (req: GatewayRequest, route: RouteSpec): ContractError | null | Promise<ContractError | null> => {
    const keyed = keyring.keyed();
    const text = keyed ? presentedKey(req) : undefined;
    req.$principal = text === undefined ? null : keyring.authenticate(text);
    req.$audit = auditContext(req, route, req.$params ?? {});
    const denial = accessDenial(route, keyed, req.$principal, req.socket.remoteAddress);
    if (denial !== null || route.role === "public") return denial;
    const limited = config.access.rateLimitRps > 0 || req.$principal?.rateLimitRps != null;
    return limited ? takeTokens(req, "req", 1) : null;
  };
  const admit = (req: GatewayRequest, route: RouteSpec): ContractError | null | Promise<ContractError | null> => {
    if (keyring.loaded || !accessRuns()) return decideAccess(req, route);
    return loadKeys().then(
      () => decideAccess(req, route),
      () => new ContractError(503, "Access control is not available yet; try again shortly"),
    );
  };

  // The aliases of each prefix (/api/v1, and the root for GET /metrics): one moleculer-web route each.
  const aliasesByPrefix = new Map<string, Record<string, string | unknown[]>>();
  for (const route of ROUTES) {
    const prefix = routePrefix(route);
    const aliases = aliasesByPrefix.get(prefix) ?? {};
    aliasesByPrefix.set(prefix, aliases);
    // GET query routes need no shaping: with no body parser, moleculer-web's params are the query itself.
    const direct = route.input === "query" && !checksIgnoredBody(route);
    aliases[`${route.method} ${route.path}`] = direct ? route.action : [paramShaper(route), route.action];
  }

  return {
    name: "api",
    mixins: [ApiGateway as unknown as ServiceSchema],

    settings: {
      port: config.port,
      ip: config.host,
      log4XXResponses: false,
      // moleculer-web's own pipeline (paths no alias matches) takes the request's id set by
      // httpHandler, never the raw header (services/api/request-id.ts).
      rootCallOptions(options: Record<string, unknown>, req: GatewayRequest) {
        options.requestID = req.$requestID;
      },
      logRequest: "debug",
      logResponse: "debug",
      routes: [...aliasesByPrefix].map(([prefix, aliases]) => ({
        path: prefix,
        // Per-request logging lines cost ~10% of a small request even below the log level.
        logging: false,
        mappingPolicy: "restrict",
        autoAliases: false,
        bodyParsers: false,
        aliases,
        callOptions: { timeout: config.requestTimeoutMs },
        onError(req: GatewayRequest, res: ServerResponse, err: unknown) {
          sendErrorAnswer(req, res, err, requestLog);
        },
      })),
      onError(req: GatewayRequest, res: ServerResponse, err: unknown) {
        sendErrorAnswer(req, res, err, requestLog);
      },
    },

    events,

    actions: {
      /**
       * moleculer-web's own request action: it only routes, so retries and the circuit breaker are
       * for the service calls it makes, not for it (they would wrap every HTTP request twice).
       */
      rest: {
        retryPolicy: { enabled: false },
        circuitBreaker: { enabled: false },
      },

      /**
       * The access service's push of the keys (§25.1): installs the snapshot unless this gateway
       * already holds that version or a newer one. Never routed over HTTP.
       */
      accessChanged: {
        visibility: "public",
        handler(ctx: Context<KeySnapshot>) {
          const installed = keyring.install(ctx.params);
          if (installed) recheckStreams();
          return { installed, version: keyring.version };
        },
      },

      /** GET /healthz: liveness, no dependency checks. */
      healthz: {
        handler(this: { broker: ServiceBroker }) {
          return {
            status: "ok",
            timestamp: formatInstant(Date.now()),
            version: VERSION,
            node_id: this.broker.nodeID,
            uptime_s: (Date.now() - startedAtMs) / 1000,
          };
        },
      },

      /**
       * GET /openapi.json (runtime-contract §27): the OpenAPI 3.1 document of the route table
       * (services/api/openapi/document.ts), built once when the gateway starts and answered as is.
       */
      openapi: {
        handler() {
          return openApiDocument();
        },
      },

      /**
       * GET /readyz (api-contract §8.2): the store and every contract service, each within its
       * timeout; on a node whose SERVICES include the runtime, also `runtime`: this node's runtime has
       * completed its start (leftovers reaped, first reconciliation run).
       */
      readyz: {
        async handler(this: { broker: ServiceBroker }, ctx: Context<unknown, Record<string, unknown>>) {
          const broker = this.broker;
          const checks: Record<string, () => Promise<CheckResult>> = {
            store: async () => {
              const owner = STORE_SERVICES.find((name) => nodesRunning(broker, name).length > 0);
              if (owner === undefined) return "missing";
              await ctx.call(`${owner}.storePing`, {}, { timeout: 1000, retries: 0 });
              return "ok";
            },
          };
          for (const name of CONTRACT_SERVICES) {
            checks[name] = async () => ((await isReachable(broker, name)) ? "ok" : "missing");
          }
          if (config.services.includes("runtime")) checks.runtime = () => localRuntimeCheck(broker, ctx);
          const result = await readiness(checks);
          if (result.status !== "ready") ctx.meta.$statusCode = 503;
          return result;
        },
      },
    },

    created() {
      const self = this as unknown as {
        server: Server;
        requests?: ConnectionDrain;
        logger: RequestLogger & ServiceBroker["logger"];
        broker: ServiceBroker;
      };
      self.requests = trackRequests(self.server);
      requests = self.requests;
      requestLog = new RequestLog(self.logger, config.logLevel === "debug" || config.logLevel === "trace");
      hub = new EventHub({
        maxClients: config.events.maxClients,
        keepAliveMs: config.events.keepAliveMs,
        onSlowClient: (unsent) =>
          self.logger.info(`GET /events: a client with ${unsent} bytes unsent was disconnected (it resumes with Last-Event-ID)`),
      });
      log = self.logger;
      broker = self.broker;
      // §27: the requests this gateway answers, and its event stream clients, for GET /metrics.
      const metrics = nodeMetrics(self.broker);
      if (config.metrics.enabled) meter = new RequestMeter(metrics);
      metrics.gauge("console_mcp_sse_clients", "GET /events streams open on this gateway", [], () =>
        hub === null ? [] : [[[], hub.stats().clients]],
      );
      // Requests Node's HTTP parser refuses still get a JSON error body (services/api/http-errors.ts).
      self.server.on("clientError", answerClientError);
    },

    started() {
      // The OpenAPI document is built now, once: a route the document cannot describe fails the start.
      openApiDocument();
      hub?.start();
      // The keys: asked for now (without waiting: the first request waits if they have not come),
      // then polled; key usage handed over in batches.
      const poll = () => {
        if (accessRuns()) loadKeys().catch((err: Error) => log?.debug(`keys not refreshed: ${err.message}`));
        recheckStreams(); // expiries
      };
      poll();
      timers.push(
        setInterval(poll, KEY_POLL_INTERVAL_MS),
        setInterval(() => void flushUsage(), KEY_USAGE_FLUSH_MS),
      );
      for (const t of timers) t.unref();
    },

    async stopped() {
      hub?.stop();
      for (const t of timers.splice(0)) clearInterval(t);
      await flushUsage();
    },

    methods: {
      /** The event stream's counters (clients, events, held, slow clients disconnected, refused): for metrics and tests. */
      eventStreamStats(): EventHubStats | null {
        return hub === null ? null : hub.stats();
      },

      /**
       * Stops accepting connections and waits, at most `deadlineMs`, for the requests in flight
       * (services/api/drain.ts). The entrypoint calls it before the broker stops the services, so an
       * accepted request is never cut by a stopping service. Event streams never finish by
       * themselves: they are ended at once (their clients resume elsewhere with Last-Event-ID).
       */
      drain(this: { requests: ConnectionDrain }, deadlineMs: number): Promise<DrainResult> {
        const drained = this.requests.drain(deadlineMs);
        hub?.closeAll();
        return drained;
      },

      /**
       * moleculer-web's call step, without its response writer: the JSON answer is written here with
       * the status and headers the action set in `ctx.meta` ($statusCode, $responseHeaders), else the
       * route's success status (moleculer-web warns about a missing Location header on every 201
       * and does work we do not need). The call is one broker call to the endpoint moleculer-web's
       * balancer chose, with the request's id and, on the routes that honour it, the
       * `Idempotency-Key` header as `meta.idempotencyKey` (passed through unchecked: the action
       * validates and applies it, §11.1); a failed call is retried by the broker's retry policy on
       * another node. Every call carries the client's address as `meta.clientAddress` (the TCP peer's,
       * §25). The gateway opens no Context of its own for the request (see httpHandler), so
       * the action's context is the root one.
       */
      async callAction(
        this: Gateway,
        _route: unknown,
        actionName: string,
        req: GatewayRequest,
        res: ServerResponse,
        params: Record<string, unknown>,
      ): Promise<boolean> {
        const route = routeOfAction.get(actionName);
        // §25.3: ingestion is counted by runs (the body is read by now; an invalid one counts 1).
        if (route?.countsRuns === true) {
          const limited = await takeTokens(req, "runs", runsOf(params));
          if (limited !== null) throw limited;
        }
        const meta: Record<string, unknown> = { clientAddress: req.socket.remoteAddress };
        if (req.$audit !== undefined) meta.audit = req.$audit;
        req.$callMeta = meta;
        if (route?.idempotencyKey === true) {
          const key = req.headers["idempotency-key"];
          if (key !== undefined) meta.idempotencyKey = key;
        }
        const call = this.broker.call((req.$endpoint ?? actionName) as string, params, {
          timeout: config.requestTimeoutMs,
          requestID: req.$requestID,
          meta,
          caller: "api",
        }) as Promise<unknown> & { ctx?: Context<unknown, Record<string, unknown>> };
        const data = await call;
        if (res.headersSent || res.writableEnded) return true;
        // The action's meta, with what a remote node sent back merged in by the transit layer.
        const answerMeta = call.ctx?.meta ?? meta;
        // An action may set its answer's status and headers (a replayed idempotent write, /readyz).
        const status = (answerMeta.$statusCode as number | undefined) ?? route?.status ?? 200;
        // §25.2: a write whose action recorded nothing in its own transaction (it changed nothing
        // the log could sit beside, e.g. a routing simulation) is recorded before it is answered.
        if (route !== undefined && route.method !== "GET" && answerMeta.$audited !== true && req.$audit !== undefined) {
          await recordAudit([auditEntry(req.$audit, "ok", status)]);
        }
        sendJson(
          res,
          status,
          data,
          req.$requestID,
          answerMeta.$responseHeaders as Record<string, string> | undefined,
          answerMeta.$responseType as string | undefined,
        );
        requestAnswered(req, status);
        return true;
      },

      /**
       * Replaces moleculer-web's `qs` parsing of the query string (services/api/query.ts): one string
       * per key, the last occurrence winning, keys taken literally, malformed escapes never guessed.
       */
      parseQueryString(req: IncomingMessage) {
        return splitRequestUrl(req.url ?? "/");
      },

      /**
       * moleculer-web's fallback error step (used where no route's onError applies): the same answer
       * and the same logging as every other failure (one throttled line for a 503, no stack for a 4xx).
       */
      errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown) {
        sendErrorAnswer(req as GatewayRequest, res, err, requestLog);
      },

      /**
       * Every request starts here (moleculer-web's HTTP server calls it). CORS runs first, so every
       * answer (unknown paths and errors too) carries it. A request that matches a route then passes
       * the access step (services/api/access.ts: 403 for a network client on a loopback-only route).
       *
       * A request whose path and method match an alias of the route table then takes moleculer-web's
       * own steps (its alias resolution, then its `aliasHandler`: endpoint choice, the alias's input
       * step, `callAction`; failures through its `errorHandler` to the route's `onError`), without
       * what moleculer-web wraps around them and this gateway does not use (issue 8, goal 4; the
       * profile is in the README): the `api.rest` action call (a Context and the broker's middleware
       * chain: context tracking, timeout, fallback and error hooks, on top of the ones the actual
       * broker call goes through), the Promise and three response listeners per request, the route's
       * connect middlewares (none) and CORS options (CORS is applied here), and a debug line built
       * even when debug is off. The request's id comes first (services/api/request-id.ts: the
       * client's when safe, else a new one): every answer carries it as X-Request-ID, and every log
       * line of the request as request_id. The event-stream route
       * (GET /events) calls no action: after the access step the gateway's event hub answers it
       * (services/api/events/). Any other request goes through moleculer-web's whole pipeline,
       * which answers 404, or 405 with Allow (onError). Every request is timed for GET /metrics and,
       * at LOG_LEVEL debug, its line (services/api/request-metrics.ts): `requestStarted` here,
       * `requestAnswered` where its answer's head is written — a field or two on the request, no listener.
       */
      httpHandler(this: Gateway, req: GatewayRequest, res: ServerResponse, next?: Next) {
        req.$requestID = clientRequestId(req.headers) ?? this.broker.generateUid();
        requestStarted(req, meter, requestLog);
        // §25.1 rebinding guard: a Host that does not name this console is refused before anything else.
        const badHost = guard.hostDenial(req);
        if (badHost !== null) return denyBeforeRouting(this, req, res, badHost, "host");
        if (req.method === "OPTIONS") res.setHeader("X-Request-ID", req.$requestID);
        if (applyCors(cors, req, res)) {
          requestAnswered(req, res.statusCode);
          return undefined;
        }
        // §25.1 cross-site guard: a write from a page of an origin the CORS list does not allow.
        const badOrigin = guard.originDenial(req);
        if (badOrigin !== null) return denyBeforeRouting(this, req, res, badOrigin, "origin");
        // moleculer-web resolves an OPTIONS request as its Access-Control-Request-Method (GET when
        // absent), which would run the GET/POST action. Preflights are answered above, and no
        // route defines OPTIONS, so any other OPTIONS request is a routing miss: 405 or 404.
        if (req.method === "OPTIONS") {
          const miss = new Errors.MoleculerClientError("Not found", 404, "NOT_FOUND");
          sendErrorAnswer(req, res, miss, requestLog);
          return undefined;
        }
        const originalUrl = req.url ?? "/";
        const { url, query } = splitRequestUrl(originalUrl);
        const path = url.length > 1 && url.endsWith("/") ? url.slice(0, -1) : url;
        // What moleculer-web's rest action and routeHandler set on the request for the steps after.
        let found: ReturnType<Gateway["resolveAlias"]>;
        try {
          found = this.resolveAlias(path, req.method);
        } catch (err) {
          // A path parameter that is not valid percent-encoding (moleculer-web's 400).
          failRequest(this, req, res, err, requestLog);
          return undefined;
        }
        if (found === false) return moleculerWebPipeline(this, req, res, next, requestLog);
        req.originalUrl = originalUrl;
        req.parsedUrl = path;
        req.query = query;
        req.$route = found.alias.route;
        req.$alias = found.alias;
        req.$params = Object.assign({}, query, found.params);
        const route = found.alias.action === null ? undefined : routeOfAction.get(found.alias.action);
        if (route === undefined)
          return this.aliasHandler(req, res, found.alias).then(undefined, (err: unknown) => failRequest(this, req, res, err, requestLog));
        req.$routeSpec = route;
        const alias = found.alias;
        // The access step (§25.1): after routing (unknown paths and methods are 404/405 first), before the body is read.
        // (No named closure per request: tsx compiles with keepNames, so each one costs a defineProperty.)
        const verdict = admit(req, route);
        if (verdict instanceof Promise)
          return verdict.then(
            (denial: ContractError | null) => afterAccess(this, req, res, route, alias, query, denial),
            (err: unknown) => failRequest(this, req, res, err, requestLog),
          );
        return afterAccess(this, req, res, route, alias, query, verdict);
      },
    },
  };

  /**
   * What follows the access step of a matched route (§25.1): a denial is recorded (401 and 403; a 429
   * of a read is not: a flood would write as much) then answered; GET /events opens its stream; any
   * other request takes moleculer-web's alias handler (a failed write recorded by failWrite).
   */
  function afterAccess(
    gateway: Gateway,
    req: GatewayRequest,
    res: ServerResponse,
    route: RouteSpec,
    alias: Alias,
    query: Record<string, unknown>,
    denial: ContractError | null,
  ): Promise<unknown> | undefined {
    if (denial !== null) {
      const recorded =
        denial.code === 429 && route.method === "GET"
          ? Promise.resolve()
          : recordAudit([
              auditEntry(req.$audit as AuditContext, "denied", denial.code as number, { method: route.method, path: contractPath(route) }),
            ]);
      return recorded.then(() => failRequest(gateway, req, res, denial, requestLog));
    }
    if (route.input === "event-stream") {
      try {
        openEventStream(req, res, query);
      } catch (err) {
        failRequest(gateway, req, res, err, requestLog);
      }
      return undefined;
    }
    return gateway.aliasHandler(req, res, alias).then(undefined, (err: unknown) => failWrite(gateway, req, res, route, err));
  }

  /**
   * A request the guard refuses before routing (§25.1): recorded as denied (under its route's audit
   * name when it has one), then answered 403.
   */
  function denyBeforeRouting(
    gateway: Gateway,
    req: GatewayRequest,
    res: ServerResponse,
    denial: ContractError,
    reason: "host" | "origin",
  ): Promise<void> {
    const { url } = splitRequestUrl(req.url ?? "/");
    const path = url.length > 1 && url.endsWith("/") ? url.slice(0, -1) : url;
    let route: RouteSpec | undefined;
    let params: Record<string, unknown> = {};
    try {
      const found = gateway.resolveAlias(path, req.method);
      if (found !== false && found.alias.action !== null) {
        route = routeOfAction.get(found.alias.action);
        params = found.params;
      }
    } catch {
      // an unroutable path: recorded as a plain request
    }
    req.$principal = null;
    const context = auditContext(req, route, params);
    const value = reason === "host" ? req.headers.host : req.headers.origin;
    const details = { method: req.method ?? "", path: route === undefined ? path : contractPath(route), [reason]: String(value ?? "") };
    return recordAudit([auditEntry(context, "denied", 403, details)]).then(() => failRequest(gateway, req, res, denial, requestLog));
  }

  /**
   * A failed request after the access step: a write (any non-GET request, §25.2) whose action did not
   * record its own outcome is recorded with it — `denied` for 401/403/429, `error` otherwise — then
   * answered.
   */
  function failWrite(gateway: Gateway, req: GatewayRequest, res: ServerResponse, route: RouteSpec, err: unknown): Promise<void> | void {
    if (route.method === "GET" || req.$audit === undefined || req.$callMeta?.$audited === true) {
      failRequest(gateway, req, res, err, requestLog);
      return undefined;
    }
    const status = httpErrorAnswer(err, route.method, String(req.originalUrl ?? req.url ?? "/").split("?")[0]).status;
    const outcome = status === 401 || status === 403 || status === 429 ? "denied" : "error";
    return recordAudit([auditEntry(req.$audit, outcome, status)]).then(() => failRequest(gateway, req, res, err, requestLog));
  }
}

/** Answers a failed request through moleculer-web's error handler (then the route's onError). Never throws. */
function failRequest(gateway: Gateway, req: GatewayRequest, res: ServerResponse, err: unknown, log: RequestLog): void {
  if (req.$requestID !== undefined && req.$requestID !== "" && !res.headersSent) res.setHeader("X-Request-ID", req.$requestID);
  try {
    gateway.errorHandler(req, res, err);
  } catch (failure) {
    sendErrorAnswer(req, res, failure, log);
  }
}

/**
 * moleculer-web's own request handler: the `api.rest` action and everything around it (used for
 * the requests that match no alias). A failure that escapes its error handling still gets an
 * answer instead of becoming an unhandled rejection (which would stop the process).
 */
function moleculerWebPipeline(gateway: Gateway, req: GatewayRequest, res: ServerResponse, next: Next | undefined, log: RequestLog): Promise<unknown> {
  const handler = (ApiGateway as unknown as { methods: { httpHandler: (...a: unknown[]) => unknown } }).methods.httpHandler;
  return Promise.resolve(handler.call(gateway, req, res, next)).catch((err: unknown) => sendErrorAnswer(req, res, err, log));
}

/** Ids of the live nodes that run a service (this node included). */
function nodesRunning(broker: ServiceBroker, name: string): string[] {
  const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as {
    name: string;
    nodeID: string;
  }[];
  return [...new Set(services.filter((s) => s.name === name).map((s) => s.nodeID))];
}

/**
 * The readiness of this node's runtime (§8.2, for a node whose SERVICES include it): "ok" once its
 * start is complete (`runtime.ready` on this node), "error: starting" while its start runs (Moleculer
 * registers a local service's actions only once its `started` has resolved), "error: stopping" once
 * its stop has begun, "missing" when this node has no runtime (any more).
 */
async function localRuntimeCheck(broker: ServiceBroker, ctx: Context): Promise<CheckResult> {
  if (broker.getLocalService("runtime") === undefined) return "missing";
  if (!nodesRunning(broker, "runtime").includes(broker.nodeID)) return "error: starting";
  const answer = (await ctx.call("runtime.ready", {}, { nodeID: broker.nodeID, timeout: 1000, retries: 0 })) as { status?: unknown };
  return answer.status === "ready" ? "ok" : `error: ${String(answer.status)}`;
}

/** A service is reachable when this node runs it, or a node that runs it answers a ping. */
async function isReachable(broker: ServiceBroker, name: string): Promise<boolean> {
  if (broker.getLocalService(name) !== undefined) return true;
  const nodes = nodesRunning(broker, name);
  if (nodes.length === 0) return false;
  const pongs = (await broker.ping(nodes, 900)) as unknown as Record<string, unknown>;
  return nodes.some((node) => pongs[node] !== null && pongs[node] !== undefined);
}
