// Agents as the page's model holds them, for component tests: a primary in COLO by default.
import { EMPTY_INFO } from "../../cockpit/src/decode.js";
import type { AgentInfo, AgentModel, Checkpoint } from "../../cockpit/src/model.js";
import { DEFAULT_PARAMS, toExternal } from "../../src/colo/params.js";

export const UUID = "0e3c5a4e-1b2c-4d5e-8f90-123456789abc";
export const BUS_NAME = "org.colo_hybrid.Agent.u0e3c5a4e1b2c4d5e8f90123456789abc";

export function info(overrides: Partial<AgentInfo> = {}): AgentInfo {
  return {
    ...EMPTY_INFO,
    domain: "web1",
    role: "primary",
    peerUri: "qemu+ssh://host2/system",
    peerDomain: "web1-secondary",
    colo: "colo",
    mode: "colo",
    mean: 212.4,
    samples: 12,
    params: toExternal(DEFAULT_PARAMS),
    stats: {
      checkpoints: 130,
      "checkpoints-colo": 30,
      "checkpoints-passive": 100,
      "per-minute": 42.5,
      "length-min": 180,
      "length-avg": 240,
      "length-max": 20_000,
      "pause-min": 12,
      "pause-avg": 30,
      "pause-max": 95,
      "time-colo": 90_000,
      "time-passive": 30_000,
      "window-ms": 60_000,
    },
    qemuPrimary: "7.2.22",
    qemuSecondary: "7.2.21",
    ...overrides,
  };
}

export function agent(overrides: Partial<AgentModel> = {}): AgentModel {
  return {
    busName: BUS_NAME,
    uuid: UUID,
    running: true,
    info: info(),
    failure: "",
    checkpoints: undefined,
    ...overrides,
  };
}

/** `n` checkpoints a second apart ending at `end`, the last `passive` of them passive. */
export function checkpoints(n: number, end: number, passive = 0): Checkpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    t: end - (n - 1 - i) * 1000,
    length: i >= n - passive ? 250 : 150 + i,
    pause: 20,
    mean: 300 - i,
    mode: i >= n - passive ? ("passive" as const) : ("colo" as const),
  }));
}
