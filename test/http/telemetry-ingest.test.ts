/**
 * Ingestion over real HTTP on a temporary SQLite file.
 */
import { ingestSuite } from "./telemetry-ingest-suite";

ingestSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
