/**
 * The telemetry read endpoints over real HTTP on a SQLite store.
 */
import { startTestServer } from "../helpers/server";
import { telemetryReadsSuite } from "./telemetry-reads-suite";

telemetryReadsSuite("sqlite", async (env) => {
  const server = await startTestServer(env);
  return { server, stop: () => server.stop() };
});
