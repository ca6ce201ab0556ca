/**
 * Every migration of the shared store, in order. Listed statically (not read from a folder) so they
 * run the same from TypeScript sources, a build, or a test.
 */
import type { Knex } from "knex";
import * as m001 from "./001_sessions";
import * as m002 from "./002_telemetry_finops";
import * as m003 from "./003_telemetry_read_index";
import * as m004 from "./004_telemetry_daily";
import * as m005 from "./005_rollup_sum_types";
import * as m006 from "./006_idempotency_keys";
import * as m007 from "./007_telemetry_rollup_levels";
import * as m008 from "./008_latency_sketches";
import * as m009 from "./009_error_rollups";
import * as m010 from "./010_catalog";
import * as m011 from "./011_runtime";
import * as m012 from "./012_rollup_stripes";
import * as m013 from "./013_sessions_live";
import * as m014 from "./014_secrets";
import * as m015 from "./015_access";

export interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  ["001_sessions", m001],
  ["002_telemetry_finops", m002],
  ["003_telemetry_read_index", m003],
  ["004_telemetry_daily", m004],
  ["005_rollup_sum_types", m005],
  ["006_idempotency_keys", m006],
  ["007_telemetry_rollup_levels", m007],
  ["008_latency_sketches", m008],
  ["009_error_rollups", m009],
  ["010_catalog", m010],
  ["011_runtime", m011],
  ["012_rollup_stripes", m012],
  ["013_sessions_live", m013],
  ["014_secrets", m014],
  ["015_access", m015],
];
