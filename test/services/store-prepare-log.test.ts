/**
 * Preparing a store says what it did (issue 7: "seeding and migrations log nothing"): the migrations
 * it applied and whether it seeded, on a new store and again on the same store.
 */
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../../lib/config";
import { createKnex } from "../../lib/store/knex";
import { MIGRATIONS } from "../../lib/store/migrations";
import { prepareStore } from "../../lib/store/prepare";
import { tempDir } from "../helpers/server";

describe("store preparation log", () => {
  it("names the migrations it applied and says whether it seeded, then that nothing was left to do", async () => {
    const dir = tempDir();
    const knex = createKnex({ dbUrl: null, dbPath: path.join(dir, "log.db") });
    const lines: string[] = [];
    const log = { info: (m: string) => void lines.push(m) };
    const fixturesDir = path.join(PROJECT_ROOT, "fixtures");
    try {
      await prepareStore(knex, { fixturesDir, seed: true }, log);
      expect(lines).toEqual([`store: applied migrations ${MIGRATIONS.map(([n]) => n).join(", ")}`, `store: seeded from ${fixturesDir}`]);
      lines.length = 0;
      await prepareStore(knex, { fixturesDir, seed: true }, log);
      expect(lines).toEqual(["store: schema is current", expect.stringMatching(/^store: already seeded/)]);
      lines.length = 0;
      await prepareStore(knex, { fixturesDir, seed: false }, log);
      expect(lines).toEqual(["store: schema is current", "store: seeding is off (CONSOLE_MCP_SEED=none)"]);
    } finally {
      await knex.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
