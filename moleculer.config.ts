/**
 * Broker options, built from the validated configuration (never from process.env directly).
 * Timeouts, retries, the circuit breaker and heartbeats are set on purpose: Moleculer leaves the
 * first three off and notices a killed node only after 30 s by default.
 */
import type { BrokerOptions } from "moleculer";
import type { Config } from "./lib/config";

export function brokerOptions(
  config: Pick<Config, "transporter" | "nodeId" | "logLevel" | "requestTimeoutMs" | "heartbeatIntervalS" | "heartbeatTimeoutS">,
): BrokerOptions {
  return {
    namespace: "console-mcp",
    nodeID: config.nodeId ?? undefined,
    transporter: config.transporter === null ? undefined : { type: "NATS", options: { url: config.transporter } },
    logger: { type: "Console", options: { level: config.logLevel, formatter: "short", colors: false } },
    requestTimeout: config.requestTimeoutMs,
    // Retry only what another node may answer: calls that found no live endpoint or timed out on a
    // node that just died. Contract errors are not retryable, so they are never repeated.
    retryPolicy: {
      enabled: true,
      retries: 3,
      delay: 100,
      maxDelay: 1000,
      factor: 2,
      check: (err: Error) => (err as { retryable?: boolean }).retryable === true,
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
    registry: { strategy: "RoundRobin", preferLocal: true },
    // Let NATS queue groups balance remote calls: NATS drops a killed node's subscriptions as soon as
    // its connection closes, so new calls stop going to it at once instead of after the heartbeat
    // timeout.
    disableBalancer: config.transporter !== null,
    transit: { disableReconnect: false },
    tracking: { enabled: true, shutdownTimeout: 10000 },
    metrics: { enabled: false },
    tracing: { enabled: false },
  };
}

export default brokerOptions;
