/**
 * Many start/stop and start/SIGKILL cycles leave no process and no open descriptor behind
 * (runtime-contract §18.2, §18.4): counted by process group, and by /proc/self/fd. Each process has
 * a grandchild that ignores SIGTERM, so every stop needs the group SIGKILL.
 */
import { ServerSpec, Supervisor } from "../../services/runtime/supervisor";
import { eventually, GroupWatch, liveMembers, openFdCount, PROJECT_ROOT, RAW_SERVER, testBackendEnv } from "../helpers/process-groups";

jest.setTimeout(600_000);

const CYCLES = 100;
const watch = new GroupWatch();
let sup: Supervisor | null = null;

afterEach(async () => {
  await sup?.shutdown();
  sup = null;
  await watch.expectAllGone();
});

function supervisor(restart: ServerSpec["restart"]): { sup: Supervisor; spawned: number[]; gone: number[] } {
  const spawned: number[] = [];
  const gone: number[] = [];
  const spec: ServerSpec = {
    id: "cycle",
    command: process.execPath,
    // The SDK-free test server with a grandchild that ignores SIGTERM: quick to start, hard to end.
    args: [RAW_SERVER, "--grandchild"],
    restart,
    max_restarts: 5,
    startup_timeout_s: 30,
    degraded_latency_ms: 1000,
    tool_timeout_s: 60,
  };
  sup = new Supervisor({
    nodeId: "n",
    backendEnv: testBackendEnv(),
    projectRoot: PROJECT_ROOT,
    healthIntervalMs: 0,
    stopGraceMs: 100,
    resolve: async () => ({ server: spec, secret: null }),
    hooks: {
      onGroup: (_id, event) => {
        if (event.type === "spawned") {
          spawned.push(event.record.pgid);
          watch.add(event.record.pgid);
        } else {
          gone.push(event.pgid);
        }
      },
    },
  });
  return { sup, spawned, gone };
}

/** Live members of every group in `pgids`. */
function leftInGroups(pgids: number[]): number {
  return pgids.reduce((n, pgid) => n + liveMembers(pgid).length, 0);
}

it(`${CYCLES} start/stop cycles leave 0 processes and no descriptor growth`, async () => {
  const { sup, spawned, gone } = supervisor("on-failure");
  // Warm-up: modules loaded, pools created.
  await sup.start("cycle");
  await sup.stop("cycle");
  const fdsBefore = openFdCount();
  for (let i = 0; i < CYCLES; i++) {
    const s = await sup.start("cycle");
    expect(s.status).toBe("running");
    const stopped = await sup.stop("cycle");
    expect(stopped.status).toBe("stopped");
    // The state is written only when the group is gone (the grandchild included).
    expect(liveMembers(s.pid!)).toEqual([]);
  }
  expect(spawned).toHaveLength(CYCLES + 1);
  expect(gone).toEqual(spawned);
  expect(leftInGroups(spawned)).toBe(0);
  // A leak of one descriptor per cycle would add 100; a few may come and go with the runtime itself.
  await eventually(() => openFdCount() <= fdsBefore + 4, 10_000, `descriptors back to ${fdsBefore} (now ${openFdCount()})`);
});

it(`${CYCLES} start/SIGKILL cycles leave 0 processes and no descriptor growth`, async () => {
  const { sup, spawned } = supervisor("never");
  await sup.start("cycle");
  await sup.stop("cycle");
  const fdsBefore = openFdCount();
  for (let i = 0; i < CYCLES; i++) {
    const s = await sup.start("cycle");
    expect(s.status).toBe("running");
    process.kill(s.pid!, "SIGKILL");
    await eventually(() => sup.get("cycle")?.status === "error", 10_000, "the kill to be seen");
    expect(sup.get("cycle")!.return_code).toBe(-9);
  }
  // The grandchildren left by each killed leader are ended in the background.
  await sup.idle();
  expect(spawned).toHaveLength(CYCLES + 1);
  expect(leftInGroups(spawned)).toBe(0);
  await eventually(() => openFdCount() <= fdsBefore + 4, 10_000, `descriptors back to ${fdsBefore} (now ${openFdCount()})`);
});
