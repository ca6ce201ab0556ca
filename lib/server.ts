/**
 * Starts a broker with the services this process runs, and stops it in one sequence. Used by every
 * entrypoint (production, dev, REPL) and by the tests, which pass their own configuration.
 */
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../moleculer.config";
import { SERVICE_FACTORIES } from "../services";
import metricsService from "../services/metrics.service";
import type { Config, ServiceName } from "./config";

/**
 * A broker with the services `config.services` selects, plus the metrics service every node runs
 * (a gateway's GET /metrics asks each node for its families, runtime-contract §27).
 */
export function createBroker(config: Config, overrides: Partial<ConstructorParameters<typeof ServiceBroker>[0]> = {}): ServiceBroker {
  const broker = new ServiceBroker({ ...brokerOptions(config), ...overrides });
  for (const name of config.services) {
    const factory = SERVICE_FACTORIES[name as ServiceName];
    if (factory === undefined) throw new Error(`Service '${name}' is not available in this build`);
    broker.createService(factory(config));
  }
  broker.createService(metricsService(config));
  return broker;
}

interface DrainingGateway {
  drain(deadlineMs: number): Promise<{ abandoned: number; tookMs: number }>;
}

/**
 * The one stop sequence (SIGTERM, SIGINT, the REPL's exit): when this process runs the gateway, it
 * first stops accepting connections and finishes the requests it accepted (at most `drainDeadlineMs`),
 * while every service still runs; then the broker stops the services (each waits for its own
 * in-flight calls, `tracking.shutdownTimeout`) and leaves the cluster.
 */
export async function stopServer(broker: ServiceBroker, drainDeadlineMs: number): Promise<void> {
  const gateway = broker.getLocalService("api") as unknown as DrainingGateway | undefined;
  if (gateway !== undefined) {
    const result = await gateway.drain(drainDeadlineMs);
    if (result.abandoned > 0) {
      broker.logger.warn(`HTTP drain: ${result.abandoned} request(s) still unanswered after ${result.tookMs} ms were cut`);
    } else {
      broker.logger.info(`HTTP drain: every accepted request answered (${result.tookMs} ms)`);
    }
  }
  await broker.stop();
}
