/**
 * Process entrypoint: reads the configuration, starts the broker, stops it on SIGINT/SIGTERM.
 * A configuration or manifest error stops startup with one clear line and exit code 1, on stderr: a
 * JSON object when the log format is json (LOG_FORMAT, else NODE_ENV=production: a JSON log stays
 * JSON to its last line, §27), else plain text.
 */
import type { ServiceBroker } from "moleculer";
import { Config, ConfigError, RunMode, applyThreadPoolSize, configFromProcess, fallbackLogFormat } from "../lib/config";
import { writeStartupFailure } from "../lib/logging/logger";
import { createBroker, stopServer } from "../lib/server";
import { ManifestError } from "../services/providers/manifest";

/** Starts the services; with `repl`, opens moleculer-repl on the broker once they run. */
export async function main(mode: RunMode, options: { repl?: boolean } = {}): Promise<void> {
  let broker: ServiceBroker | undefined;
  let config: Config;
  let starting: Promise<unknown> = Promise.resolve();
  let stopping = false;
  // Installed before the start, so a signal that comes while services are still starting (the
  // gateway may already answer) stops the process the same way, once the start has settled.
  const stop = (signal: string) => {
    if (stopping || broker === undefined) return;
    stopping = true;
    const b = broker;
    b.logger.info(`${signal} received, stopping`);
    starting
      .catch(() => undefined)
      // The gateway's requests may wait for one full broker call (REQUEST_TIMEOUT) and no longer.
      .then(() => stopServer(b, config.requestTimeoutMs + 1000))
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  try {
    config = configFromProcess(mode);
    applyThreadPoolSize(config);
    broker = createBroker(config);
    // Through the logger, so a JSON log stays one JSON object per line (§27).
    for (const warning of config.warnings) broker.logger.warn(`warning: ${warning}`);
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
    starting = broker.start();
    await starting;
    if (options.repl === true) await broker.repl();
  } catch (err) {
    if (stopping) return;
    if (err instanceof ConfigError || err instanceof ManifestError) {
      writeStartupFailure(fallbackLogFormat(), err.message);
    } else {
      writeStartupFailure(fallbackLogFormat(), "startup failed", err instanceof Error ? err : new Error(String(err)));
    }
    if (broker !== undefined) await broker.stop().catch(() => undefined);
    process.exit(1);
  }
}
