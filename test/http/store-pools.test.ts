/**
 * The store's writer and read pool under concurrency, and group-commit ingestion, on SQLite files.
 */
import { storePoolsSuite } from "./store-pools-suite";

storePoolsSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
