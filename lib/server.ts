/**
 * Starts a broker with the services this process runs. Used by every entrypoint (production, dev,
 * REPL) and by the tests, which pass their own configuration.
 */
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../moleculer.config";
import { SERVICE_FACTORIES } from "../services";
import type { Config, ServiceName } from "./config";

export function createBroker(config: Config, overrides: Partial<ConstructorParameters<typeof ServiceBroker>[0]> = {}): ServiceBroker {
  const broker = new ServiceBroker({ ...brokerOptions(config), ...overrides });
  for (const name of config.services) {
    const factory = SERVICE_FACTORIES[name as ServiceName];
    if (factory === undefined) throw new Error(`Service '${name}' is not available in this build`);
    broker.createService(factory(config));
  }
  return broker;
}
