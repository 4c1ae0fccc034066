// `make demo`: the product as an admin would run it, on this host or (`make demo ON=lab-hosts`)
// across two lab hosts (demo/site.ts). The packages built here and installed with apt-get (the
// hook, the agents' supervisor, the bus policy, the Cockpit page); a guest as admins run them (a
// qcow2 disk on virtio-blk, a virtio NIC on a Linux bridge) made a COLO pair with `colo-hybrid
// pair create`; both domains started, so that the hook starts their agents; `colo-hybrid
// protect`, which copies the disk to the secondary; then a load in phases (idle, divergent,
// convergent, idle) from a client namespace on the bridge, with the primary's agent's own events
// printed as they come, beside the load's answers. cockpit-ws serves the page on a loopback
// port. The pair stays up afterwards.
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient, type AgentEvent } from "../src/dbus/client.js";
import { busNameForUuid } from "../src/dbus/names.js";
import { bridgedNic, GUEST_ADDRESS } from "../test/lab/bridge.js";
import { withDisk } from "../test/lab/disk-pair.js";
import { buildGuest, FIXED_BODY } from "../test/lab/guest.js";
import { guestDomainXml } from "../test/lab/guest-domain.js";
import { type Phase, type PhaseKind, runLoad } from "../test/lab/load.js";
import { distinctFreePorts } from "../test/lab/pair.js";
import { apt, deb, dpkgStatus, HOOK, NAMES, owner } from "../test/packaging/packages.js";
import { run } from "../test/support/exec.js";
import { waitUntil } from "../test/support/wait.js";
import { pageUrl, screenshotPage, serveCockpit } from "./cockpit.js";
import { COMMAND, DOMAIN, SECONDARY } from "./names.js";
import { elapsed, indent, say, step } from "./progress.js";
import { type DemoSite, MAC, makeSite, type SiteKind } from "./site.js";
import { DEMO_DIR, type DemoState, readState, writeState } from "./state.js";
import { stop } from "./stop.js";

export const SCREENSHOT = join(DEMO_DIR, "passive.png");
/** COLO's period, and a short passive spell, so that the switches come within the phases. */
const PARAMS = ["--colo-period", "3000", "--passive-count", "20"];
/**
 * On this guest (virtio-net on a bridge) each request costs one checkpoint, divergent or not: 4
 * divergent requests/s bring the mean checkpoint interval well under passive-limit (400 ms), 2
 * fixed ones/s keep it above.
 */
const PHASES: Phase[] = [
  { kind: "idle", seconds: 10 },
  { kind: "divergent", seconds: 40, rate: 4 },
  { kind: "convergent", seconds: 30, rate: 2 },
  { kind: "idle", seconds: 15 },
];
/** How often the demo prints where the load and the agent stand, ms. */
const TICK_MS = 5000;
/** Into the divergent phase, when the page's screenshot is taken (at the next passive spell). */
const SCREENSHOT_AFTER_MS = 25_000;

async function installPackages(state: DemoState): Promise<void> {
  // The lab tests install a hook for the checkout's bundles at the same path.
  if (existsSync(HOOK) && (await owner(HOOK)) !== "colo-hybrid")
    throw new Error(
      `${HOOK} is there and not the package's: is a lab test running? remove it first`,
    );
  state.packages = (await dpkgStatus("colo-hybrid")) !== "installed";
  writeState(state);
  await step("building the packages (make deb)", () =>
    run("make", ["--no-print-directory", "deb"], { timeoutMs: 600_000 }),
  );
  const { stdout } = await step(`installing ${NAMES.join(" and ")} with apt-get`, () =>
    apt(["install", "-y", ...NAMES.map(deb)]),
  );
  process.stdout.write(
    indent(
      stdout
        .split("\n")
        .filter((l) => l.startsWith("colo-hybrid:"))
        .join("\n"),
    ),
  );
}

/** The primary's agent, followed: its events as they come, a line on the load every TICK_MS. */
async function runPhases(
  client: AgentClient,
  uuid: string,
  socketPath: string,
  cockpitPort: number,
) {
  const bus = busNameForUuid(uuid);
  const modes: string[] = [];
  const stopFollowing = await client.follow(bus, (e: AgentEvent) => {
    if (e.type === "mode-changed") {
      modes.push(e.to);
      say(`agent: mode ${e.from} → ${e.to}: ${e.reason} (mean ${e.mean.toFixed(0)} ms)`);
    } else if (e.type === "properties") {
      if (e.changed.ColoState !== undefined)
        say(`agent: COLO state ${e.changed.ColoState} ${e.changed.ColoReason ?? ""}`.trim());
      if (e.changed.LastError) say(`agent: error: ${e.changed.LastError}`);
    } else if (e.type === "agent") say(`agent: ${e.running ? "back on the bus" : "gone"}`);
  });
  let screenshot: Promise<void> | undefined;
  try {
    for (const phase of PHASES) {
      const counts = { correct: 0, wrong: 0, error: 0 };
      const rate = phase.kind === "idle" ? "no requests" : `${phase.rate} requests/s`;
      say(`load: ${phase.kind} for ${phase.seconds} s, ${rate}`);
      if (phase.kind === "divergent")
        // The page in passive mode, once its chart shows a few spells.
        screenshot = sleep(SCREENSHOT_AFTER_MS).then(() =>
          screenshotPage(cockpitPort, uuid, /^Passive mode, \d+ left$/, SCREENSHOT),
        );
      const t0 = performance.now();
      const tick = setInterval(async () => {
        const p = await client.properties(bus).catch(() => undefined);
        const t = ((performance.now() - t0) / 1000).toFixed(0);
        const answers =
          phase.kind === "idle"
            ? ""
            : `: ${counts.correct} right answers, ${counts.wrong} wrong, ${counts.error} failed`;
        const agent = p
          ? `agent in ${p.Mode} mode, ${(p.Statistics["per-minute"] ?? 0).toFixed(0)} checkpoints/min`
          : "agent not answering";
        say(`load: ${phase.kind} ${t}/${phase.seconds} s${answers} | ${agent}`);
      }, TICK_MS);
      const onOutcome = (_: PhaseKind, o: "correct" | "wrong" | "error") => {
        counts[o]++;
      };
      await runLoad({
        socketPath,
        phases: [phase],
        maxRequests: 1000,
        timeoutMs: (phase.seconds + 30) * 1000,
        onOutcome,
      }).finally(() => clearInterval(tick));
    }
    await step(`the screenshot of the page in passive mode, ${SCREENSHOT}`, async () => {
      await (screenshot ?? Promise.reject(new Error("no divergent phase")));
    });
  } finally {
    stopFollowing();
  }
  return modes;
}

export async function start(kind: SiteKind = "this-host"): Promise<void> {
  if (readState() !== undefined) {
    say("a demo is already set up: removing it first");
    await stop();
  }
  const state: DemoState = { packages: false, domains: [] };
  writeState(state);
  // Built before the lab hosts start: their hook runs the package's bundles.
  await installPackages(state);
  const site = await makeSite(kind, state);
  const guest = await step("building the guest (Debian's kernel, a busybox initramfs)", buildGuest);
  if (kind === "this-host") state.domains = [SECONDARY, DOMAIN];
  writeState(state);
  const xml = join(DEMO_DIR, `${DOMAIN}.xml`);
  writeFileSync(
    xml,
    withDisk(
      guestDomainXml({ name: DOMAIN, ...guest, nic: bridgedNic(site.net.bridge, MAC) }),
      site.disk,
    ),
  );
  await site.onPrimary("virsh", ["define", xml]);
  say(
    `defined ${DOMAIN} on ${site.primaryHost}: a qcow2 disk on virtio-blk (${site.disk}), a virtio NIC on bridge ${site.net.bridge}`,
  );
  const create = ["pair", "create", DOMAIN, ...site.pairArgs, ...PARAMS];
  const created = await step(`colo-hybrid ${create.join(" ")}`, () =>
    site.onPrimary(COMMAND, create, { timeoutMs: 60_000 }),
  );
  process.stdout.write(indent(`${created.stderr}\n${created.stdout}`));
  const [cockpitPort] = (await distinctFreePorts(1)) as [number];
  await protectAndLoad(state, site, cockpitPort);
}

/** The last "protect: syncing" line: how much of the disk the copy moved, and when. */
const lastSyncing = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("protect: syncing"))
    .at(-1) ?? "";

/** Both domains started and protected, cockpit-ws, the load from the client; what to try. */
async function protectAndLoad(
  state: DemoState,
  site: DemoSite,
  cockpitPort: number,
): Promise<void> {
  const { net } = site;
  const client = await AgentClient.connect();
  try {
    await step(
      `starting ${SECONDARY} on ${site.secondaryHost}, then ${DOMAIN} on ${site.primaryHost}, both paused`,
      async () => {
        await site.onSecondary("virsh", ["start", SECONDARY, "--paused"]);
        await site.onPrimary("virsh", ["start", DOMAIN, "--paused"]);
      },
    );
    const uuidOn = async (on: DemoSite["onPrimary"], name: string) =>
      (await on("virsh", ["domuuid", name])).stdout.trim();
    const primaryUuid = await uuidOn(site.onPrimary, DOMAIN);
    const secondaryUuid = await uuidOn(site.onSecondary, SECONDARY);
    await step("waiting for the hook to start both agents", () =>
      waitUntil(
        "both agents on the system bus",
        async () => {
          const uuids = (await client.agents()).map((a) => a.uuid);
          return uuids.includes(primaryUuid) && uuids.includes(secondaryUuid);
        },
        60_000,
        250,
      ),
    );
    const workaround = await site.tcgWorkaround((l) => say(`lab: ${l}`));
    if (workaround !== undefined) {
      state.gdbPid = workaround.gdbPid;
      writeState(state);
    }
    const protectedOut = await step(
      `colo-hybrid protect ${DOMAIN} (it copies the disk to the secondary first)`,
      () => site.onPrimary(COMMAND, ["protect", DOMAIN], { timeoutMs: 180_000 }),
    );
    process.stdout.write(indent(`${lastSyncing(protectedOut.stderr)}\n${protectedOut.stdout}`));
    // The load runs here, in the host's namespace: a forwarder in the client's carries it.
    const forward = await net.forward(80);
    state.forwarder = { pid: forward.pid, socketPath: forward.socketPath };
    writeState(state);
    say(
      `the load's way in: ${forward.socketPath}, forwarded from ${net.netns} to ${GUEST_ADDRESS}:80`,
    );
    const fixed = `http://${GUEST_ADDRESS}/cgi-bin/fixed`;
    await step(`waiting for the guest to boot and answer on ${GUEST_ADDRESS}:80`, () =>
      waitUntil(
        "the guest's web server",
        async () =>
          (await run("curl", ["-sS", "-m", "5", "--unix-socket", forward.socketPath, fixed]))
            .stdout === FIXED_BODY,
        180_000,
        500,
      ),
    );
    state.cockpitPort = cockpitPort;
    state.cockpitPgid = await step(`starting cockpit-ws on 127.0.0.1:${cockpitPort}`, () =>
      serveCockpit(cockpitPort),
    );
    writeState(state);
    say(`Cockpit, with no login (a local session as root): ${pageUrl(cockpitPort)}`);
    say(
      `  from a laptop: ssh -L ${cockpitPort}:127.0.0.1:${cockpitPort} root@${hostname()}, then the same address`,
    );

    let modes: string[];
    try {
      modes = await runPhases(client, primaryUuid, forward.socketPath, cockpitPort);
    } finally {
      await forward.close();
      delete state.forwarder;
      writeState(state);
    }
    const passive = modes.filter((m) => m === "passive").length;
    const back = modes.filter((m) => m === "colo").length;
    const times = (n: number) => (n === 1 ? "once" : `${n} times`);
    say(`the agent went passive ${times(passive)} and back to COLO ${times(back)}`);
    const next: [string, string][] = [
      ["colo-hybrid list", "the agents on the system bus"],
      [`colo-hybrid status ${DOMAIN}`, "the primary's agent in full"],
      [`colo-hybrid events ${DOMAIN}`, "follow it (Ctrl-C ends it)"],
      [
        `ip netns exec ${net.netns} curl http://${GUEST_ADDRESS}/cgi-bin/divergent`,
        `the service, through COLO, from the client on ${net.bridge}`,
      ],
      [`colo-hybrid set ${DOMAIN} enabled=false`, "hybrid mode off: COLO mode whatever the load"],
      [`colo-hybrid failover ${DOMAIN}`, "the primary leaves COLO and runs alone"],
      ...site.tries,
      ["make demo-stop", "removes everything the demo added"],
    ];
    const width = Math.max(...next.map(([c]) => c.length)) + 2;
    process.stdout.write(
      `\nThe pair stays up with its agents; the page: ${pageUrl(cockpitPort)}\nTry:\n${next
        .map(([c, what]) => `  ${c.padEnd(width)}${what}\n`)
        .join("")}Done in ${elapsed().trim()}.\n`,
    );
  } finally {
    client.close();
  }
}
