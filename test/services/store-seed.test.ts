/**
 * Store seeding (§4) on SQLite files shared by the brokers of each test.
 */
import { seedSuite } from "./store-seed-suite";

seedSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
