/** Secrets over HTTP on a SQLite store (suite: ./secrets-suite.ts). */
import { secretsSuite } from "./secrets-suite";

secretsSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
