/**
 * `npm run bench -- <name>`: runs one benchmark (or all when no name is given). Benchmarks print
 * ratios measured side by side in one run; they are never part of `npm test`.
 */
import { benchEvents } from "./events";
import { benchFailover } from "./failover";
import { benchGateway } from "./gateway";
import { benchIngest } from "./ingest";
import { benchMixed } from "./mixed";
import { benchRuntime } from "./runtime";
import { benchRuntimeLogs } from "./runtime-logs";
import { benchScaleout } from "./scaleout";
import { benchStore } from "./store";

const BENCHES: Record<string, () => Promise<void>> = {
  events: benchEvents,
  failover: benchFailover,
  gateway: benchGateway,
  ingest: benchIngest,
  mixed: benchMixed,
  runtime: benchRuntime,
  "runtime-logs": benchRuntimeLogs,
  scaleout: benchScaleout,
  store: benchStore,
};

async function run(): Promise<void> {
  const names = process.argv.slice(2);
  const selected = names.length === 0 ? Object.keys(BENCHES) : names;
  for (const name of selected) {
    const bench = BENCHES[name];
    if (bench === undefined) {
      console.error(`unknown benchmark '${name}'; known: ${Object.keys(BENCHES).join(", ")}`);
      process.exit(2);
    }
    console.log(`\n=== bench ${name} ===`);
    await bench();
  }
}

run().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
