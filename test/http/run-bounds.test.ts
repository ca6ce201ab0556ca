/**
 * Sums that cannot overflow the store (issue 7), on SQLite files.
 */
import { runBoundsSuite } from "./run-bounds-suite";

runBoundsSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
