/**
 * A real client address that is not loopback, for the tests of the open-mode access rule
 * (runtime-contract §25.1): a non-internal IPv4 address of this machine when it has one (connecting
 * from it to a server bound on 0.0.0.0 makes that address the peer's), else a private address added
 * to `lo` for the test (needs root and `ip`; removed again by `release`). With neither, the suite
 * fails under CI and is skipped loudly elsewhere.
 */
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import os from "node:os";

const UNDER_CI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";

export interface LocalAddress {
  address: string;
  /** Removes an address this helper added (nothing for an address the machine already had). */
  release(): void;
}

function existingAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === "IPv4" && !info.internal && !info.address.startsWith("169.254.")) return info.address;
    }
  }
  return undefined;
}

/** Adds 10.200.x.y/32 to lo; undefined when that is not possible here. */
function addedAddress(): LocalAddress | undefined {
  const address = `10.200.${randomInt(1, 255)}.${randomInt(1, 255)}`;
  try {
    execFileSync("ip", ["addr", "add", `${address}/32`, "dev", "lo"], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  return {
    address,
    release() {
      try {
        execFileSync("ip", ["addr", "del", `${address}/32`, "dev", "lo"], { stdio: "ignore" });
      } catch {
        // already gone
      }
    },
  };
}

/** A non-loopback address of this machine to connect from, or undefined. */
export function nonLoopbackAddress(): LocalAddress | undefined {
  const existing = existingAddress();
  if (existing !== undefined) return { address: existing, release: () => undefined };
  return addedAddress();
}

/** describe with a non-loopback address; fails under CI without one, skipped loudly elsewhere. */
export function describeWithNetworkAddress(name: string, fn: (address: () => string) => void): void {
  const local = nonLoopbackAddress();
  if (local !== undefined) {
    describe(name, () => {
      afterAll(() => local.release());
      fn(() => local.address);
    });
    return;
  }
  if (UNDER_CI) {
    describe(name, () => {
      it("needs a non-loopback address under CI", () => {
        throw new Error("no non-loopback IPv4 address on this machine and none could be added to lo (needs root and `ip`)");
      });
    });
    return;
  }
  console.warn(`SKIPPED suite '${name}': no non-loopback address on this machine, and none could be added to lo`);
  const skipWithoutAddress = describe.skip;
  skipWithoutAddress(name, () => fn(() => ""));
}
