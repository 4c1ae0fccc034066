// What a demo run added to the host, written before each addition is made, so that `make
// demo-stop` (and the next `make demo`) removes exactly that, also after a failed run.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_DIR } from "../test/support/paths.js";

export const DEMO_DIR = join(BUILD_DIR, "demo");
const STATE = join(DEMO_DIR, "state.json");

export interface DemoState {
  /** The packages were installed by the demo (not there before it): demo-stop purges them. */
  packages: boolean;
  /** The pair runs on lab hosts, which demo-stop stops (and with them all that is on them). */
  labHosts?: boolean;
  /** Domains defined on this host, secondary first. */
  domains: string[];
  /** The lab bridge's tag (test/lab/bridge.ts): its bridge, veth pair and client namespace. */
  bridgeTag?: string;
  /** The forwarder from a UNIX socket into the client's namespace, to the guest's port 80. */
  forwarder?: { pid: number; socketPath: string };
  /** The primary's own qcow2 image, made by the demo. */
  disk?: string;
  /** The secondary's image directory and the libvirt pool over it (pair create makes both). */
  imageDir?: string;
  pool?: string;
  /** gdb holding the lab-only TCG workaround on the primary's QEMU. */
  gdbPid?: number;
  /** cockpit-ws's process group (it, its bridge and what the session started). */
  cockpitPgid?: number;
  cockpitPort?: number;
}

export function readState(): DemoState | undefined {
  return existsSync(STATE) ? (JSON.parse(readFileSync(STATE, "utf8")) as DemoState) : undefined;
}

export function writeState(state: DemoState): void {
  mkdirSync(DEMO_DIR, { recursive: true });
  writeFileSync(STATE, `${JSON.stringify(state, null, 2)}\n`);
}

export function forgetState(): void {
  rmSync(STATE, { force: true });
}
