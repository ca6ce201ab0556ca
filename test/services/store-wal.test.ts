/**
 * WalCheckpoints (lib/store/knex.ts): a SQLite WAL that readers keep busy is started over once the
 * readers of older snapshots are done, and the writer's busy timeout is restored afterwards.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { createKnex, createReadKnex, SQLITE_BUSY_TIMEOUT_MS, WalCheckpoints } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { tempDir } from "../helpers/server";

async function walFrames(knex: Knex): Promise<number> {
  const rows: { log: number }[] = await knex.raw("PRAGMA wal_checkpoint(PASSIVE)");
  return Number(rows[0].log);
}

async function writeSessions(knex: Knex, n: number, from: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await knex("sessions").insert({
      id: `s-${i}`,
      provider_id: "p",
      created_at: "2025-05-01T00:00:00.000Z",
      status: "pending",
      reason: "x".repeat(500),
      client: null,
      options: "{}",
    });
  }
}

describe("WalCheckpoints", () => {
  let dir: string;
  let knex: Knex;
  let readKnex: Knex;
  let checkpoints: WalCheckpoints;

  beforeAll(async () => {
    dir = tempDir("console-mcp-wal-");
    const store = { dbUrl: null, dbPath: path.join(dir, "console.db") };
    knex = createKnex(store);
    await migrateToLatest(knex);
    readKnex = createReadKnex(store);
    // Checks are run by hand here; a tiny threshold stands for 16 MiB.
    checkpoints = new WalCheckpoints(knex, { intervalMs: 3_600_000, restartFrames: 8 });
  });
  afterAll(async () => {
    await checkpoints.stop();
    await readKnex.destroy();
    await knex.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("restarts a long WAL once no reader uses an older snapshot, and only then", async () => {
    const reader = await readKnex.transaction();
    let frames: number;
    try {
      await reader("sessions").count("* as n"); // the reader's snapshot starts here
      await writeSessions(knex, 60, 0);
      frames = await walFrames(knex);
      expect(frames).toBeGreaterThan(8);
      await checkpoints.check();
      // The reader still reads its snapshot from the WAL: the restart gives up after its short wait.
      expect([checkpoints.restarts, checkpoints.restartsBusy]).toEqual([0, 1]);
      await writeSessions(knex, 5, 60);
      expect(await walFrames(knex)).toBeGreaterThan(frames);
    } finally {
      await reader.commit();
    }
    await checkpoints.check();
    expect([checkpoints.restarts, checkpoints.restartsBusy]).toEqual([1, 1]);
    // The next commit writes the WAL from its start.
    await writeSessions(knex, 1, 65);
    expect(await walFrames(knex)).toBeLessThan(frames);
    const timeout: { timeout: number }[] = await knex.raw("PRAGMA busy_timeout");
    expect(Number(Object.values(timeout[0])[0])).toBe(SQLITE_BUSY_TIMEOUT_MS);
    expect(await readKnex("sessions").count<{ n: number }[]>("* as n")).toEqual([{ n: 66 }]);
  });

  it("leaves a WAL below the threshold alone (16 MiB by default)", async () => {
    const defaults = new WalCheckpoints(knex, { intervalMs: 3_600_000 });
    try {
      await writeSessions(knex, 40, 100);
      expect(await walFrames(knex)).toBeGreaterThan(8);
      await defaults.check();
      expect([defaults.restarts, defaults.restartsBusy]).toEqual([0, 0]);
    } finally {
      await defaults.stop();
    }
  });
});
