// The hung-secondary drill on a live COLO pair: the secondary's QEMU is SIGSTOPped for 30 s.
// COLO gives no sign of it (no checkpoint starts, the primary's QMP answers, colo-compare just
// holds the primary's output), so it is the agent's heartbeat that must find it: the agent yanks
// the primary's migration, fails it over, and clients are answered again while the secondary is
// still stopped. What the agent says is checked against QEMU all along. The time it takes is a
// figure of bench/hung-secondary.ts, not asserted here.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import type { AgentStatus } from "../../src/agent/status.js";
import { waitUntil } from "../support/wait.js";
import { type LabPair, startPair } from "./pair.js";

const STALL_MS = 30_000;

const qemuPid = (domain: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, "utf8").trim());

describe("a hung secondary", () => {
  let pair: LabPair;
  let agent: Agent;
  const lines: string[] = [];

  beforeAll(async () => {
    pair = await startPair({ period: 3000, params: { "colo-period": 3000 } });
    agent = await Agent.start({
      uuid: pair.primary.dom.uuid,
      uri: "qemu:///system",
      log: (level, text) => lines.push(`${level}: ${text}`),
    });
    await waitUntil(
      "the agent to follow the pair in COLO",
      async () => {
        const s = agent.status();
        return s.colo === "colo" && s.qemu.secondary !== "" && s.lastError === "";
      },
      60_000,
      100,
    );
  }, 300_000);

  afterAll(async () => {
    await agent?.close();
    await pair?.teardown();
  });

  it("is found by the agent, which fails the primary over; clients are answered again", async () => {
    const secondary = qemuPid(pair.secondary.dom.name);
    const answered: { start: number; ok: boolean }[] = [];
    let stalled: number | undefined;
    let clients = true;
    const client = (async () => {
      while (clients) {
        const start = performance.now();
        const ok = await fetch(`http://127.0.0.1:${pair.port}/cgi-bin/fixed`, {
          signal: AbortSignal.timeout(STALL_MS),
        }).then(
          (r) => r.ok,
          () => false,
        );
        answered.push({ start, ok });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // What the agent says, beside what the primary's QEMU says, sampled through the stall.
    const samples: { agent: AgentStatus; migration: string; run: string }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const agentNow = agent.status();
        // Read after the agent's word: what it said had happened by then.
        const m = (await pair.lv.qmp(pair.primary.dom, "query-migrate")) as { status: string };
        const r = (await pair.lv.qmp(pair.primary.dom, "query-status")) as { status: string };
        samples.push({ agent: agentNow, migration: m.status, run: r.status });
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 2000));
      stalled = performance.now();
      process.kill(secondary, "SIGSTOP");
      await new Promise((r) => setTimeout(r, STALL_MS));
      // Still stopped: the service came back without it.
      expect(answered.some((a) => a.ok && a.start > (stalled as number))).toBe(true);
    } finally {
      process.kill(secondary, "SIGCONT");
      sampling = false;
      clients = false;
      await sampler;
      await client;
    }
    const s = agent.status();
    expect(s.colo).toBe("failed-over");
    expect(s.history.filter((h) => h.kind === "failover")).toHaveLength(1);
    expect(s.history.some((h) => h.kind === "error" && /is hung/.test(h.message))).toBe(true);
    expect(
      ((await pair.lv.qmp(pair.primary.dom, "query-status")) as { status: string }).status,
    ).toBe("running");
    // The report was true throughout: COLO, then failed over for good, the hang said before
    // or with the failover, and "failed-over" only ever seen while the primary ran alone.
    const states = samples.map((x) => x.agent.colo);
    const first = states.indexOf("failed-over");
    const seen = states.filter((c, i) => c !== states[i - 1]).join(" → ");
    expect(first).toBeGreaterThan(0);
    expect(
      states.slice(0, first).every((c) => c === "colo"),
      seen,
    ).toBe(true);
    expect(
      states.slice(first).every((c) => c === "failed-over"),
      seen,
    ).toBe(true);
    expect(samples.slice(0, first + 1).some((x) => /is hung/.test(x.agent.lastError))).toBe(true);
    for (const x of samples.slice(first)) {
      expect(x.migration).not.toBe("colo");
      expect(x.run).toBe("running");
    }
    expect(lines.some((l) => /yanked/.test(l))).toBe(true);
  }, 120_000);
});
