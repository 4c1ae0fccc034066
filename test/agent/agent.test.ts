// The agent as the executor of the pair controller, over a fake libvirt (fake-libvirt.ts): real
// timers, real promises, QEMU's answers written by each test. The same paths on real QEMU are
// test/lab/agent.test.ts and test/lab/hung-secondary.test.ts.
import { afterEach, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { DEFAULT_PARAMS, type Params } from "../../src/colo/params.js";
import type { Libvirt } from "../../src/libvirt/api.js";
import type { HybridMetadata } from "../../src/libvirt/xml/metadata.js";
import { waitUntil } from "../support/wait.js";
import { coloQemu, FakeLibvirt, type QmpAnswer } from "./fake-libvirt.js";

const never = () => new Promise(() => undefined);

function pair(params: Partial<Params> = {}, protect = false) {
  const meta: HybridMetadata = {
    role: "primary",
    peer: { uri: "qemu:///system", domain: "web1-secondary" },
    protect,
    ports: { migration: 9005 },
    params: { ...DEFAULT_PARAMS, ...params },
  };
  const primary = new FakeLibvirt("web1", meta, coloQemu("primary"));
  const secondary = new FakeLibvirt("web1-secondary", undefined, coloQemu("secondary"));
  return { primary, secondary };
}

const agents: Agent[] = [];
async function start(p: ReturnType<typeof pair>): Promise<Agent> {
  const agent = await Agent.start({
    uuid: p.primary.dom.uuid,
    uri: "qemu:///system",
    log: () => undefined,
    connect: async (_uri, whose): Promise<Libvirt> => (whose === "own" ? p.primary : p.secondary),
  });
  agents.push(agent);
  return agent;
}

/** An agent started on a pair in COLO, once it follows the secondary. */
async function startFollowing(p: ReturnType<typeof pair>): Promise<Agent> {
  const agent = await start(p);
  await waitUntil(
    "COLO, following the secondary",
    async () => agent.status().qemu.secondary !== "",
    5000,
    10,
  );
  return agent;
}

afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
});

describe("the agent executing the pair controller", () => {
  it("finding 12: is up (and can be published) before replication has started", async () => {
    const p = pair({}, true);
    const unprotected: QmpAnswer = coloQemu("primary", {
      "query-migrate": () => ({ status: "none" }),
      "query-colo-status": () => ({ mode: "none", "last-mode": "none", reason: "none" }),
      // Replication that never gets anywhere: start() must not wait for it.
      "migrate-set-capabilities": never,
    });
    p.primary.answer = unprotected;
    p.secondary.answer = coloQemu("secondary", { "query-status": () => ({ status: "inmigrate" }) });
    const agent = await start(p);
    await waitUntil(
      "replication to be under way",
      async () => agent.status().colo === "starting",
      5000,
      10,
    );
    expect(p.primary.commands).toContain("migrate-set-capabilities");
  });

  it("finding 13: a secondary whose QEMU stops answering is yanked and the primary failed over", async () => {
    const p = pair({ peerTimeout: 150 });
    const agent = await startFollowing(p);
    p.secondary.answer = coloQemu("secondary", { "query-status": never }); // SIGSTOP
    p.primary.answer = coloQemu("primary", {
      yank: () => {
        setImmediate(() => p.primary.send("COLO_EXIT", { mode: "primary", reason: "error" }));
        return {};
      },
    });
    await waitUntil("the failover", async () => agent.status().colo === "failed-over", 5000, 10);
    const s = agent.status();
    expect(s.lastError).toMatch(/web1-secondary' is hung/);
    expect(p.primary.commands).toContain("yank");
    expect(p.primary.commands.filter((c) => c === "x-colo-lost-heartbeat")).toHaveLength(1);
  });

  it("yank is never queued behind a primary command that hangs", async () => {
    const p = pair({ peerTimeout: 150 });
    const agent = await startFollowing(p);
    let unstick: (v: unknown) => void = () => undefined;
    const stuck = new Promise((r) => (unstick = r));
    p.primary.answer = coloQemu("primary", { "migrate-set-parameters": () => stuck });
    // A period change stuck in QEMU, then the secondary hangs.
    void agent.setParams({ "colo-period": 5000 });
    await waitUntil(
      "the stuck command",
      async () => p.primary.commands.includes("migrate-set-parameters"),
      5000,
      10,
    );
    p.secondary.answer = coloQemu("secondary", { "query-status": never });
    await waitUntil("the yank", async () => p.primary.commands.includes("yank"), 5000, 10);
    unstick({});
  });

  it("two parameter changes at once: live and stored agree", async () => {
    const p = pair();
    const agent = await start(p);
    const [a, b] = await Promise.all([
      agent.setParams({ "passive-limit": 500 }),
      agent.setParams({ "colo-period": 450 }),
    ]);
    expect(a).toEqual({ ok: true });
    expect(b.ok).toBe(false);
    expect(agent.status().params["passive-limit"]).toBe(500);
    expect(agent.status().params["colo-period"]).toBe(DEFAULT_PARAMS.coloPeriod);
    expect(p.primary.metadataWrites).toBe(1);
  });
});
