/**
 * Rollup stripes (migration 012) on SQLite files: one writer, so every row in stripe 0.
 */
import { stripesSuite } from "./telemetry-stripes-suite";

stripesSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
