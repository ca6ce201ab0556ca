/**
 * Latency percentiles above and below the 10,000-run threshold (sketches vs exact), on SQLite files.
 */
import { percentilesSuite } from "./telemetry-percentiles-suite";

percentilesSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
