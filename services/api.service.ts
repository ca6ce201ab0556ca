/**
 * api: the HTTP gateway (moleculer-web). Maps the /api/v1 paths of the route table onto service
 * actions, applies CORS and the body limit, and turns every error into the contract's answer.
 * It holds no domain logic; liveness and readiness are its own because they describe this node's
 * view of the broker.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Errors } from "moleculer";
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { Config, VERSION } from "../lib/config";
import { formatInstant } from "../lib/time";
import { optionalObjectBody, parseJsonBody, readRawBody, requireObjectBody } from "./api/body";
import { allowedOrigins, applyCors, corsPolicy } from "./api/cors";
import { CheckResult, CONTRACT_SERVICES, readiness, STORE_SERVICES } from "./api/health";
import { httpErrorAnswer } from "./api/http-errors";
import { API_PREFIX, ROUTES, RouteSpec } from "./api/routes";

interface GatewayRequest extends IncomingMessage {
  $params: Record<string, unknown>;
  $ctx?: Context<unknown, Record<string, unknown>>;
  $route?: unknown;
  parsedUrl?: string;
  originalUrl?: string;
  query?: Record<string, unknown>;
}

type Next = (err?: unknown) => void;

/** Builds the connect-style step that turns a request into the action params of its route. */
function paramShaper(route: RouteSpec) {
  return function shapeParams(req: GatewayRequest, _res: ServerResponse, next: Next): void {
    const run = async (): Promise<void> => {
      const pathParams: Record<string, unknown> = {};
      for (const key of route.path.split("/").filter((p) => p.startsWith(":"))) {
        pathParams[key.slice(1)] = req.$params[key.slice(1)];
      }
      switch (route.input) {
        case "query":
          req.$params = { ...(req.query ?? {}) };
          return;
        case "path":
          req.$params = pathParams;
          return;
        case "object-body":
        case "path-and-optional-body": {
          const raw = await readRawBody(req);
          const body = parseJsonBody(raw, req.headers["content-type"]);
          req.$params =
            route.input === "object-body"
              ? requireObjectBody(body)
              : { ...optionalObjectBody(body), ...pathParams };
          return;
        }
      }
    };
    run().then(() => {
      // The success status of the route (e.g. 201); an error answer sets its own.
      if (route.status !== undefined && req.$ctx !== undefined) req.$ctx.meta.$statusCode = route.status;
      next();
    }, next);
  };
}

function sendErrorAnswer(req: GatewayRequest, res: ServerResponse, err: unknown, log: (e: unknown) => void): void {
  const pathname = (req.originalUrl ?? req.url ?? "/").split("?")[0];
  const answer = httpErrorAnswer(err, req.method ?? "GET", pathname);
  if (answer.status >= 500) log(err);
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    ...answer.headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

export default function apiService(
  config: Pick<Config, "host" | "port" | "corsOrigins" | "frontendHost" | "frontendPort" | "requestTimeoutMs">,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): ServiceSchema<any> {
  const cors = corsPolicy(allowedOrigins(config));
  const startedAtMs = Date.now();

  const aliases: Record<string, string | unknown[]> = {};
  for (const route of ROUTES) {
    // Query routes need no shaping: with no body parser, moleculer-web's params are the query itself.
    const direct = route.input === "query" && route.status === undefined;
    aliases[`${route.method} ${route.path}`] = direct ? route.action : [paramShaper(route), route.action];
  }

  return {
    name: "api",
    mixins: [ApiGateway as unknown as ServiceSchema],

    settings: {
      port: config.port,
      ip: config.host,
      log4XXResponses: false,
      logRequest: "debug",
      logResponse: "debug",
      routes: [
        {
          path: API_PREFIX,
          // Per-request logging lines cost ~10% of a small request even below the log level.
          logging: false,
          mappingPolicy: "restrict",
          autoAliases: false,
          bodyParsers: false,
          aliases,
          callOptions: { timeout: config.requestTimeoutMs },
          onError(this: { logger: { error(...a: unknown[]): void } }, req: GatewayRequest, res: ServerResponse, err: unknown) {
            sendErrorAnswer(req, res, err, (e) => this.logger.error("Request failed:", e));
          },
        },
      ],
      onError(this: { logger: { error(...a: unknown[]): void } }, req: GatewayRequest, res: ServerResponse, err: unknown) {
        sendErrorAnswer(req, res, err, (e) => this.logger.error("Request failed:", e));
      },
    },

    actions: {
      /**
       * moleculer-web's own request action: it only routes, so retries and the circuit breaker are
       * for the service calls it makes, not for it (they would wrap every HTTP request twice).
       */
      rest: {
        retryPolicy: { enabled: false },
        circuitBreaker: { enabled: false },
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

      /** GET /readyz: the store and every contract service, each within its timeout. */
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
            checks[name] = async () => (await isReachable(broker, name)) ? "ok" : "missing";
          }
          const result = await readiness(checks);
          if (result.status !== "ready") ctx.meta.$statusCode = 503;
          return result;
        },
      },
    },

    methods: {
      /** CORS runs before routing, so every answer (unknown paths and errors too) carries it. */
      httpHandler(this: { logger: { error(...a: unknown[]): void } }, req: IncomingMessage, res: ServerResponse, next?: Next) {
        if (applyCors(cors, req, res)) return undefined;
        // moleculer-web resolves an OPTIONS request as its Access-Control-Request-Method (GET when
        // absent), which would run the GET/POST action. Preflights are answered above, and no
        // route defines OPTIONS, so any other OPTIONS request is a routing miss: 405 or 404.
        if (req.method === "OPTIONS") {
          const miss = new Errors.MoleculerClientError("Not found", 404, "NOT_FOUND");
          sendErrorAnswer(req as GatewayRequest, res, miss, (e) => this.logger.error("Request failed:", e));
          return undefined;
        }
        return (ApiGateway as unknown as { methods: { httpHandler: (...a: unknown[]) => unknown } }).methods.httpHandler.call(
          this,
          req,
          res,
          next,
        );
      },
    },
  };
}

/** Ids of the live nodes that run a service (this node included). */
function nodesRunning(broker: ServiceBroker, name: string): string[] {
  const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as {
    name: string;
    nodeID: string;
  }[];
  return [...new Set(services.filter((s) => s.name === name).map((s) => s.nodeID))];
}

/** A service is reachable when this node runs it, or a node that runs it answers a ping. */
async function isReachable(broker: ServiceBroker, name: string): Promise<boolean> {
  if (broker.getLocalService(name) !== undefined) return true;
  const nodes = nodesRunning(broker, name);
  if (nodes.length === 0) return false;
  const pongs = (await broker.ping(nodes, 900)) as unknown as Record<string, unknown>;
  return nodes.some((node) => pongs[node] !== null && pongs[node] !== undefined);
}
