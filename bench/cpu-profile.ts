/**
 * A text summary of a V8 CPU profile (`node --cpu-prof` writes one `.cpuprofile` per process at
 * exit): the functions with the most self time, and the most inclusive time, as shares of the
 * sampled time. The same file opens as a flame graph in Chrome DevTools (Performance panel) or
 * speedscope.
 */
import fs from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  /** Share of all sampled time, 0..1. */
  share: number;
  frame: string;
}

export interface ProfileSummary {
  sampledMs: number;
  self: ProfileLine[];
  inclusive: ProfileLine[];
}

/** `function file:line`, with paths shortened to the package or the project file. */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url
    .replace(/^.*node_modules\//, "")
    .replace(/^file:\/\//, "")
    .replace(`${process.cwd()}/`, "");
  return `${functionName || "(anonymous)"} ${file}${file === "" ? "" : `:${lineNumber + 1}`}`;
}

/** Summarises one `.cpuprofile` file: the `top` frames by self time and by inclusive time. */
export function summariseProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const timeOf = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    timeOf.set(id, (timeOf.get(id) ?? 0) + dt);
    total += dt;
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of timeOf) {
    const name = frameName(byId.get(id) as ProfileNode);
    self.set(name, (self.get(name) ?? 0) + t);
    // Each frame counts once per sample, even when it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = frameName(byId.get(cur) as ProfileNode);
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + t);
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, t]) => ({ share: total === 0 ? 0 : t / total, frame }));
  return { sampledMs: total / 1000, self: lines(self), inclusive: lines(inclusive) };
}

/** Prints a summary as two short lists. */
export function printProfileSummary(title: string, file: string, top = 25): void {
  const s = summariseProfile(file, top);
  console.log(`\n${title}: ${file} (${s.sampledMs.toFixed(0)} ms sampled)`);
  console.log("  self time:");
  for (const l of s.self) console.log(`  ${(100 * l.share).toFixed(1).padStart(5)}%  ${l.frame}`);
  console.log("  inclusive time:");
  for (const l of s.inclusive) console.log(`  ${(100 * l.share).toFixed(1).padStart(5)}%  ${l.frame}`);
}

/**
 * Node arguments that make a benchmark's server write its CPU profile into `<profileDir>/<name>`
 * when it stops (`--cpu-prof`); none when profileDir is undefined (no profiling).
 */
export function profileNodeArgs(profileDir: string | undefined, name: string): string[] {
  if (profileDir === undefined) return [];
  const dir = path.resolve(profileDir, name);
  fs.mkdirSync(dir, { recursive: true });
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

/** Prints the summary of every profile written under `<profileDir>/<name>` for each name. */
export function printProfiles(profileDir: string, names: string[], top = 25): void {
  for (const name of names) {
    const dir = path.resolve(profileDir, name);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
    for (const f of files) printProfileSummary(name, path.join(dir, f), top);
  }
}
