/**
 * Every service of the backend by name, as a factory taking the configuration. The entrypoint
 * creates the ones SERVICES selects (all of them by default).
 */
import type { ServiceSchema } from "moleculer";
import type { Config, ServiceName } from "../lib/config";
import accessService from "./access.service";
import apiService from "./api.service";
import finopsService from "./finops.service";
import providersService from "./providers.service";
import routingService from "./routing.service";
import runtimeService from "./runtime.service";
import secretsService from "./secrets.service";
import sessionsService from "./sessions.service";
import telemetryService from "./telemetry.service";

// biome-ignore lint/suspicious/noExplicitAny: each factory's schema has its own settings, methods and vars; one registry type must accept them all
export type ServiceFactory = (config: Config) => ServiceSchema<any, any, any, any>;

export const SERVICE_FACTORIES: Partial<Record<ServiceName, ServiceFactory>> = {
  access: accessService,
  api: apiService,
  finops: finopsService,
  providers: providersService,
  routing: routingService,
  runtime: runtimeService,
  secrets: secretsService,
  sessions: sessionsService,
  telemetry: telemetryService,
};
