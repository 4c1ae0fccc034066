// The one-host COLO lab: a real pair (QEMU 7.2 under TCG here) brought up by the product's
// plumbing and protect, exercised under load, and both failover drills.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { primaryFailover, runFailover, secondaryFailover } from "../../src/pair/failover.js";
import { setCheckpointDelay } from "../../src/pair/pair-state.js";
import { ProtectError, protect, RETURN_PATH_CONFLICT } from "../../src/pair/protect.js";
import { run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { freePort } from "../support/sockets.js";
import { waitUntil } from "../support/wait.js";
import { forwardPort } from "./guest-domain.js";
import { runLoad } from "./load.js";
import { type LabPair, startPair } from "./pair.js";
import { TraceRecorder } from "./record.js";

const MINUTE = 60_000;
const PERIOD = 3000;
const TRACES = join(BUILD_DIR, "lab", "traces");
type Delay = { "x-checkpoint-delay": number };

const qemuPid = (name: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim());
const migrate = async (p: LabPair["primary"]) =>
  ((await p.lv.qmp(p.dom, "query-migrate")) as { status: string }).status;
const runState = async (p: LabPair["primary"]) =>
  ((await p.lv.qmp(p.dom, "query-status")) as { status: string }).status;
const answers = async (port: number) =>
  (await fetch(`http://127.0.0.1:${port}/cgi-bin/fixed`, { signal: AbortSignal.timeout(3000) })).ok;

describe("a COLO pair on one host", () => {
  let pair: LabPair;
  const recorder = new TraceRecorder();

  beforeAll(async () => {
    pair = await startPair({ period: PERIOD });
    await recorder.start(pair.lv, pair.primary.dom, true);
  }, 5 * MINUTE);

  afterAll(async () => {
    await recorder.stop();
    mkdirSync(TRACES, { recursive: true });
    writeFileSync(join(TRACES, "lab-phases.jsonl"), recorder.text("lab"));
    await pair?.teardown();
  }, 2 * MINUTE);

  it("reaches COLO on both sides", async () => {
    expect(await migrate(pair.primary)).toBe("colo");
    expect(await migrate(pair.secondary)).toBe("colo");
    expect(await pair.lv.qmp(pair.primary.dom, "query-colo-status")).toMatchObject({
      mode: "primary",
    });
    expect(await pair.lv.qmp(pair.secondary.dom, "query-colo-status")).toMatchObject({
      mode: "secondary",
    });
  });

  // How far apart idle checkpoints come, and how much faster under load, are figures of
  // bench/hybrid-vs-colo.ts; here, what drives them.
  it(
    "checkpoints by the configured period's timer with no load",
    async () => {
      expect(
        ((await pair.lv.qmp(pair.primary.dom, "query-migrate-parameters")) as Delay)[
          "x-checkpoint-delay"
        ],
      ).toBe(PERIOD);
      recorder.mark("idle");
      const from = Date.now();
      await waitUntil(
        "6 idle checkpoints",
        () => recorder.checkpoints(from) >= 6,
        30 * PERIOD,
        100,
      );
    },
    2 * MINUTE,
  );

  it(
    "checkpoints on divergent answers, the timer far off, and clients get correct answers",
    async () => {
      // Setting the period takes one checkpoint at once; after it, the timer is ten minutes
      // away: every other checkpoint of the phase is one that a miscompare asked for.
      const from = Date.now();
      await setCheckpointDelay(pair.lv, pair.primary.dom, 10 * MINUTE);
      try {
        recorder.mark("divergent");
        const report = await runLoad({
          port: pair.port,
          phases: [{ kind: "divergent", seconds: 12, rate: 2 }],
          maxRequests: 100,
          timeoutMs: 60_000,
        });
        const phase = report.phases[0];
        expect(phase?.errors).toEqual({});
        expect(phase?.correct).toBe(phase?.requests);
        await waitUntil(
          "checkpoints that divergent answers asked for",
          () => recorder.checkpoints(from) >= 4,
          30_000,
          100,
        );
      } finally {
        await setCheckpointDelay(pair.lv, pair.primary.dom, PERIOD);
      }
      recorder.mark("convergent");
      const fixed = await runLoad({
        port: pair.port,
        phases: [{ kind: "convergent", seconds: 6, rate: 2 }],
        maxRequests: 50,
        timeoutMs: 60_000,
      });
      expect(fixed.phases[0]?.correct).toBe(fixed.phases[0]?.requests);
      recorder.mark("idle");
    },
    2 * MINUTE,
  );

  it(
    "fails over to the primary when the secondary's QEMU dies, and serves again",
    async () => {
      process.kill(qemuPid(pair.secondary.dom.name), "SIGKILL");
      await runFailover(pair.lv, pair.primary.dom, primaryFailover(0));
      expect(await runState(pair.primary)).toBe("running");
      await waitUntil("the primary to serve again", () => answers(pair.port), 30_000, 250);
    },
    2 * MINUTE,
  );
});

let undone: { error: unknown; xColo: unknown; delay: unknown; primary: string; secondary: string };
let returnPathRefusal: unknown;

/**
 * protect() with QEMU's return-path capability on: refused. Then aimed at a port nobody listens
 * on: it must fail, say why, and undo its settings.
 */
async function failedProtect(
  primary: LabPair["primary"],
  secondary: LabPair["secondary"],
): Promise<void> {
  const returnPath = (state: boolean) =>
    primary.lv.qmp(primary.dom, "migrate-set-capabilities", {
      capabilities: [{ capability: "return-path", state }],
    });
  await returnPath(true);
  const nobody = await freePort();
  returnPathRefusal = await protect(primary, secondary, {
    period: 1234,
    migrationUri: `tcp:127.0.0.1:${nobody}`,
  }).catch((e: unknown) => e);
  await returnPath(false);
  const error = await protect(primary, secondary, {
    period: 1234,
    migrationUri: `tcp:127.0.0.1:${nobody}`,
  }).catch((e: unknown) => e);
  const caps = (await primary.lv.qmp(primary.dom, "query-migrate-capabilities")) as {
    capability: string;
    state: boolean;
  }[];
  const params = (await primary.lv.qmp(primary.dom, "query-migrate-parameters")) as {
    "x-checkpoint-delay": number;
  };
  undone = {
    error,
    xColo: caps.find((c) => c.capability === "x-colo")?.state,
    delay: params["x-checkpoint-delay"],
    primary: await runState(primary),
    secondary: await runState(secondary),
  };
}

describe("secondary-side failover", () => {
  let pair: LabPair;
  beforeAll(async () => {
    pair = await startPair({ period: PERIOD, via: "cli", beforeProtect: failedProtect });
  }, 5 * MINUTE);
  afterAll(() => pair?.teardown(), 2 * MINUTE);

  it("refused to protect with the return-path capability on", () => {
    expect(returnPathRefusal).toBeInstanceOf(ProtectError);
    expect((returnPathRefusal as Error).message).toBe(
      `the return-path migration capability is on in '${pair.primary.dom.name}': ${RETURN_PATH_CONFLICT}; turn it off (migrate-set-capabilities)`,
    );
  });

  it("undid a protect that failed, and said why", () => {
    expect(undone.error).toBeInstanceOf(ProtectError);
    expect((undone.error as Error).message).toMatch(/failed/);
    expect(undone).toMatchObject({ xColo: false, primary: "prelaunch", secondary: "inmigrate" });
    expect(undone.delay).not.toBe(1234);
  });

  it("was protected by `colo-hybrid protect`, which leaves a pair in COLO alone", async () => {
    expect(await migrate(pair.primary)).toBe("colo");
    const again = await run(process.execPath, [
      "dist/colo-hybrid.mjs",
      "protect",
      pair.primary.dom.name,
    ]);
    expect(again.stdout).toBe(
      `Domain '${pair.primary.dom.name}' is already in COLO with '${pair.secondary.dom.name}'\n`,
    );
  });

  it(
    "takes over when the primary's QEMU dies, and serves through the secondary",
    async () => {
      process.kill(qemuPid(pair.primary.dom.name), "SIGKILL");
      await runFailover(pair.lv, pair.secondary.dom, secondaryFailover(0));
      expect(await runState(pair.secondary)).toBe("running");
      await forwardPort(pair.secondary.dom.name, pair.port);
      await waitUntil("the secondary to serve", () => answers(pair.port), 30_000, 250);
    },
    2 * MINUTE,
  );
});
