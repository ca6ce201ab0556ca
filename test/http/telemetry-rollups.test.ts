/**
 * The daily rollup behind the dashboard reads, on SQLite files.
 */
import { rollupSuite } from "./telemetry-rollups-suite";

rollupSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
