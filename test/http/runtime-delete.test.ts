/** A server leaves the catalog only once its process is gone, on a SQLite store (suite: ./runtime-delete-suite.ts). */
import { runtimeDeleteSuite } from "./runtime-delete-suite";

runtimeDeleteSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
