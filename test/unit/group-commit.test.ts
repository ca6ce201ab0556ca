/**
 * GroupCommit (lib/store/group-commit.ts): how waiting writes form groups, and how each unit is settled.
 * The write function is driven by hand: each call waits until the test releases it.
 */
import { GroupCommit, GroupCommitOptions, Settled } from "../../lib/store/group-commit";

interface Unit {
  name: string;
  size?: number;
  key?: string;
  fail?: boolean;
}

/** A GroupCommit whose writes complete only when the test says so; records every group. */
function harness(options: Partial<GroupCommitOptions<Unit>> = {}) {
  const groups: string[][] = [];
  const releases: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const commit = new GroupCommit<Unit, string>(
    async (units) => {
      groups.push(units.map((u) => u.name));
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((resolve) => releases.push(resolve));
      inFlight -= 1;
      if (units.some((u) => u.name === "explode")) throw new Error("group failed");
      return units.map(
        (u): Settled<string> => (u.fail ? { ok: false, error: new Error(`${u.name} refused`) } : { ok: true, value: `${u.name} written` }),
      );
    },
    { concurrency: 1, maxUnits: 100, sizeOf: (u) => u.size ?? 1, maxSize: 1000, conflictKey: (u) => u.key, ...options },
  );
  const tick = () => new Promise((r) => setImmediate(r));
  /** Releases the oldest write in progress and lets the queue move on. */
  const releaseNext = async () => {
    await tick();
    releases.shift()?.();
    await tick();
  };
  return { commit, groups, releaseNext, maxInFlight: () => maxInFlight, tick };
}

/** The outcome of a submitted unit, caught at once (so a rejection is never unhandled). */
function outcome(p: Promise<string>): Promise<string> {
  return p.then(
    (value) => value,
    (err: Error) => `rejected: ${err.message}`,
  );
}

describe("GroupCommit", () => {
  it("starts a write on an idle queue at once, alone; what arrives meanwhile forms the next group in arrival order", async () => {
    const h = harness();
    const a = h.commit.submit({ name: "a" });
    await h.tick();
    expect(h.groups).toEqual([["a"]]);
    const rest = ["b", "c", "d"].map((name) => h.commit.submit({ name }));
    await h.tick();
    expect(h.groups).toEqual([["a"]]);
    expect(h.commit.waiting).toBe(3);
    await h.releaseNext();
    expect(await a).toBe("a written");
    expect(h.groups).toEqual([["a"], ["b", "c", "d"]]);
    await h.releaseNext();
    expect(await Promise.all(rest)).toEqual(["b written", "c written", "d written"]);
    expect(h.commit.waiting).toBe(0);
  });

  it("settles each unit with its own outcome", async () => {
    const h = harness();
    const first = outcome(h.commit.submit({ name: "first" }));
    const ok = outcome(h.commit.submit({ name: "ok" }));
    const refused = outcome(h.commit.submit({ name: "no", fail: true }));
    await h.releaseNext();
    await h.releaseNext();
    expect(await Promise.all([first, ok, refused])).toEqual(["first written", "ok written", "rejected: no refused"]);
  });

  it("fails every unit of a group whose write throws, and goes on with the next group", async () => {
    const h = harness();
    const first = outcome(h.commit.submit({ name: "first" }));
    const inGroup = [outcome(h.commit.submit({ name: "x" })), outcome(h.commit.submit({ name: "explode" }))];
    await h.releaseNext();
    const later = outcome(h.commit.submit({ name: "later" }));
    await h.releaseNext();
    await h.releaseNext();
    expect(await Promise.all([first, ...inGroup, later])).toEqual([
      "first written",
      "rejected: group failed",
      "rejected: group failed",
      "later written",
    ]);
    expect(h.groups).toEqual([["first"], ["x", "explode"], ["later"]]);
  });

  it("keeps units of one conflict key in separate groups, in their order, without holding back the others", async () => {
    const h = harness();
    const all = [
      h.commit.submit({ name: "start" }),
      h.commit.submit({ name: "k1-a", key: "k1" }),
      h.commit.submit({ name: "free-1" }),
      h.commit.submit({ name: "k1-b", key: "k1" }),
      h.commit.submit({ name: "k2", key: "k2" }),
      h.commit.submit({ name: "k1-c", key: "k1" }),
      h.commit.submit({ name: "free-2" }),
    ];
    for (let i = 0; i < 4; i++) await h.releaseNext();
    await Promise.all(all);
    expect(h.groups).toEqual([["start"], ["k1-a", "free-1", "k2", "free-2"], ["k1-b"], ["k1-c"]]);
  });

  it("bounds a group by units and by size; a single unit larger than the bound forms a group alone", async () => {
    const h = harness({ maxUnits: 3, maxSize: 10 });
    const all = [
      h.commit.submit({ name: "start" }),
      h.commit.submit({ name: "big", size: 25 }),
      h.commit.submit({ name: "s1", size: 4 }),
      h.commit.submit({ name: "s2", size: 4 }),
      h.commit.submit({ name: "s3", size: 4 }),
      h.commit.submit({ name: "t1", size: 1 }),
      h.commit.submit({ name: "t2", size: 1 }),
      h.commit.submit({ name: "t3", size: 1 }),
      h.commit.submit({ name: "t4", size: 1 }),
    ];
    for (let i = 0; i < 6; i++) await h.releaseNext();
    await Promise.all(all);
    expect(h.groups).toEqual([["start"], ["big"], ["s1", "s2", "t1"], ["s3", "t2", "t3"], ["t4"]]);
  });

  it("writes at most `concurrency` groups at a time", async () => {
    const h = harness({ concurrency: 2, maxUnits: 2 });
    const all = Array.from({ length: 9 }, (_, i) => h.commit.submit({ name: `u${i}` }));
    for (let i = 0; i < 8; i++) await h.releaseNext();
    await Promise.all(all);
    expect(h.maxInFlight()).toBe(2);
    expect(h.groups.flat()).toEqual(Array.from({ length: 9 }, (_, i) => `u${i}`));
    expect(h.groups[0]).toEqual(["u0"]);
    expect(h.groups[1]).toEqual(["u1"]);
  });
});
