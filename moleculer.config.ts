/**
 * Broker options, built from the validated configuration (never from process.env directly).
 * Timeouts, retries, the circuit breaker and heartbeats are set on purpose: Moleculer leaves the
 * first three off and notices a killed node only after 30 s by default.
 */
import type { BrokerOptions } from "moleculer";
import type { Config } from "./lib/config";
import { CallCounts } from "./lib/middlewares/call-counts";
import { RemoteCallDeadline } from "./lib/middlewares/remote-call-deadline";
import { brokerLogger } from "./lib/logging/logger";
import { LivenessNatsTransporter } from "./lib/nats-transporter";
import { shouldRetry } from "./lib/write-actions";

/** NATS with the node probe (a killed node noticed within ~0.5 s, lib/nats-transporter.ts), or stock NATS. */
function transporterOption(config: Pick<Config, "transporter" | "natsNodeProbe">): BrokerOptions["transporter"] {
  if (config.transporter === null) return undefined;
  if (!config.natsNodeProbe) return { type: "NATS", options: { url: config.transporter } };
  return new LivenessNatsTransporter({ url: config.transporter }) as unknown as BrokerOptions["transporter"];
}

export function brokerOptions(
  config: Pick<
    Config,
    "transporter" | "nodeId" | "logLevel" | "logFormat" | "requestTimeoutMs" | "heartbeatIntervalS" | "heartbeatTimeoutS" | "natsNodeProbe"
  > &
    Partial<Pick<Config, "metrics">>,
): BrokerOptions {
  return {
    namespace: "console-mcp",
    nodeID: config.nodeId ?? undefined,
    transporter: transporterOption(config),
    // One stop sequence, the entrypoint's (bin/main.ts): the gateway drains first, then the broker
    // stops. Moleculer's own signal handlers would run a second, concurrent stop.
    skipProcessEventRegistration: true,
    // Pino: JSON lines or pretty text, a line of a request with its id (lib/logging/, runtime-contract §27).
    logger: brokerLogger(config.logLevel, config.logFormat),
    requestTimeout: config.requestTimeoutMs,
    // Retry only what another node may answer: calls that found no live endpoint or timed out on a
    // node that just died. Contract errors are not retryable, so they are never repeated.
    retryPolicy: {
      enabled: true,
      retries: 3,
      delay: 100,
      maxDelay: 1000,
      factor: 2,
      // Never a timed-out write: its node may be stalled and store it anyway (lib/write-actions.ts).
      check: (err: Error) => shouldRetry(err),
    },
    circuitBreaker: {
      enabled: true,
      threshold: 0.5,
      minRequestCount: 20,
      windowTime: 60,
      halfOpenTime: 10000,
      check: (err: Error) => {
        const code = (err as Error & { code?: unknown }).code;
        return typeof code !== "number" || code >= 500;
      },
    },
    heartbeatInterval: config.heartbeatIntervalS,
    heartbeatTimeout: config.heartbeatTimeoutS,
    // Moleculer's own balancer picks a node for every call (moleculer-web does so for each request);
    // the transporter tells it at once when a node is gone, so calls are retried on another node.
    registry: { strategy: "RoundRobin", preferLocal: true },
    disableBalancer: false,
    transit: { disableReconnect: false },
    tracking: { enabled: true, shutdownTimeout: 10000 },
    // A remote call whose answer never comes still ends, so it does not stay tracked forever. The
    // broker calls each action handles are counted for GET /metrics (§27; CONSOLE_MCP_METRICS=off: not).
    middlewares: config.metrics?.enabled === false ? [RemoteCallDeadline()] : [RemoteCallDeadline(), CallCounts()],
    // Moleculer's own metrics stay off: GET /metrics is the gateway's (services/metrics.service.ts),
    // and Moleculer's per-call metrics cost more than the counting above (lib/middlewares/call-counts.ts).
    metrics: { enabled: false },
    tracing: { enabled: false },
  };
}

export default brokerOptions;
