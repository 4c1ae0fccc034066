// What a start made, each part written down before it is made, so that stop removes exactly
// that, also after a start that failed half-way (or a process killed in the middle).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { LAB_DIR, STATE_FILE } from "./layout.js";

export interface LabState {
  /** NS_DIR is bind-mounted on itself. */
  nsDir: boolean;
  /** LAN_NETNS (with its bridge) was added. */
  lan: boolean;
  /** ROOT_LINK was added. */
  rootLink: boolean;
  /** The guests' LAN (network.ts, addGuestLan) was added. */
  guestLan: boolean;
  /** Hosts by index whose netns, namespaces or daemons may exist. */
  hosts: number[];
  /** Network faults that may be installed (faults.ts), each recorded before it is made. */
  faults: FaultRecord[];
}

/** What one fault on lab host `host` (by index) installed, for undoing it from any process. */
export interface FaultRecord {
  id: string;
  host: number;
  /** iptables rules in the host's netns: each the argv of `-A`, without it (chain first). */
  rules: string[][];
  /** The host's leg on the LAN bridge is down. */
  linkDown?: boolean;
  /** A delayer process (NFQUEUE) in the host's netns. */
  pid?: number;
}

export const EMPTY_STATE: LabState = {
  nsDir: false,
  lan: false,
  rootLink: false,
  guestLan: false,
  hosts: [],
  faults: [],
};

export function readState(): LabState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  return { ...EMPTY_STATE, ...(JSON.parse(readFileSync(STATE_FILE, "utf8")) as LabState) };
}

/** Records `change` on top of what is recorded; returns the new state. */
export function record(state: LabState, change: Partial<LabState>): LabState {
  const next = { ...state, ...change };
  mkdirSync(LAB_DIR, { recursive: true, mode: 0o755 });
  writeFileSync(STATE_FILE, `${JSON.stringify(next)}\n`);
  return next;
}
