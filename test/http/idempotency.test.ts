/**
 * Idempotency-Key on POST /telemetry/runs and POST /telemetry/finops/pull-requests, on SQLite files.
 */
import { idempotencySuite } from "./idempotency-suite";

idempotencySuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
