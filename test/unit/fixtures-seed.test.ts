/**
 * The shipped seed (fixtures/): valid in the seed format, rich enough for every dashboard, small,
 * and exactly what fixtures/generate.ts produces.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../../lib/config";
import { loadSeedFixtures, PULL_REQUESTS_FILE, RUNS_FILE } from "../../lib/store/seed";
import { cacheValues, errorCategory } from "../../services/telemetry/store/run";
import { utcDay } from "../../lib/time";
import { tempDir } from "../helpers/server";

const FIXTURES = path.join(PROJECT_ROOT, "fixtures");
const DAY_MS = 86_400_000;

describe("shipped seed fixtures", () => {
  const { runs, pullRequests } = loadSeedFixtures(FIXTURES);

  it("is small", () => {
    const bytes = fs.statSync(path.join(FIXTURES, RUNS_FILE)).size + fs.statSync(path.join(FIXTURES, PULL_REQUESTS_FILE)).size;
    expect(bytes).toBeLessThanOrEqual(3 * 1024 * 1024);
    expect(runs.length).toBeGreaterThan(1000);
  });

  it("covers at least 30 days, every example provider on every day, several routes each", () => {
    const times = runs.map((r) => r.ts_ms);
    const first = Math.min(...times);
    const last = Math.max(...times);
    expect(last - first).toBeGreaterThanOrEqual(30 * DAY_MS);
    for (const provider of ["gemini", "codex", "glm46", "claude"]) {
      const own = runs.filter((r) => r.provider_id === provider);
      expect(new Set(own.map((r) => r.route)).size).toBeGreaterThanOrEqual(3);
      expect(new Set(own.map((r) => utcDay(r.ts_ms))).size).toBeGreaterThanOrEqual(30);
    }
  });

  it("has every status, error objects and strings, cache metadata, cohorts and unknown costs", () => {
    const statuses = new Set(runs.map((r) => r.status));
    for (const status of ["success", "retry", "error", "tool_error", "timeout", "rate_limit"]) expect(statuses).toContain(status);
    expect(runs.every((r) => typeof r.metadata.project === "string" && typeof r.metadata.consumer === "string")).toBe(true);
    expect(runs.some((r) => typeof r.metadata.error === "string")).toBe(true);
    expect(runs.some((r) => typeof r.metadata.error === "object" && r.metadata.error !== null)).toBe(true);
    const categories = new Set(runs.filter((r) => r.status !== "success").map((r) => errorCategory(r.status, r.metadata)));
    expect(categories.size).toBeGreaterThanOrEqual(6);
    const cache = runs.map((r) => cacheValues(r.metadata, r.tokens_out));
    expect(cache.some((c) => c.cache_hit === 1)).toBe(true);
    expect(cache.some((c) => c.cache_hit === 0)).toBe(true);
    expect(runs.some((r) => r.cost_usd === null)).toBe(true);
    expect(runs.some((r) => r.experiment_cohort !== null && r.experiment_tag !== null)).toBe(true);
  });

  it("has at least 6 pull requests with owners, merged inside the period, changing the cost of their routes", () => {
    expect(pullRequests.length).toBeGreaterThanOrEqual(6);
    const first = Math.min(...runs.map((r) => r.ts_ms));
    const last = Math.max(...runs.map((r) => r.ts_ms));
    let visibleChanges = 0;
    for (const pr of pullRequests) {
      expect(pr.owner).not.toBe("\u2014");
      expect(pr.merged_at_ms).toBeGreaterThan(first);
      expect(pr.merged_at_ms).toBeLessThan(last);
      // Mean cost per token over 7 days before vs after the merge (after clipped at the newest run).
      const perToken = (from: number, to: number) => {
        const sel = runs.filter(
          (r) =>
            r.provider_id === pr.provider_id && (pr.route === null || r.route === pr.route) && r.ts_ms >= from && r.ts_ms < to && r.cost_usd !== null,
        );
        return sel.reduce((s, r) => s + (r.cost_usd as number), 0) / sel.reduce((s, r) => s + r.tokens_in + r.tokens_out, 0);
      };
      const before = perToken(pr.merged_at_ms - 7 * DAY_MS, pr.merged_at_ms);
      const after = perToken(pr.merged_at_ms, pr.merged_at_ms + 7 * DAY_MS);
      if (Math.abs(after / before - 1) > 0.08) visibleChanges++;
    }
    expect(visibleChanges).toBeGreaterThanOrEqual(4);
  });

  it("is exactly what the generator writes (deterministic)", () => {
    const out = tempDir("console-mcp-fixtures-gen-");
    try {
      execFileSync(path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [path.join(FIXTURES, "generate.ts"), out], {
        cwd: PROJECT_ROOT,
        stdio: "pipe",
      });
      for (const file of [RUNS_FILE, PULL_REQUESTS_FILE]) {
        expect(fs.readFileSync(path.join(out, file), "utf8")).toBe(fs.readFileSync(path.join(FIXTURES, file), "utf8"));
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
