// `make demo`: the product as an admin would run it, on this host. The packages built here and
// installed with apt-get (the hook, the agents' supervisor, the bus policy, the Cockpit page);
// a guest as admins run them (a qcow2 disk on virtio-blk, a virtio NIC on a Linux bridge) made
// a COLO pair with `colo-hybrid pair create`; both domains started, so that the hook starts
// their agents; `colo-hybrid protect`, which copies the disk to the secondary; then a load in
// phases (idle, divergent, convergent, idle) from a client namespace on the bridge, with the
// primary's agent's own events printed as they come, beside the load's answers. cockpit-ws
// serves the page on a loopback port. The pair stays up afterwards.
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient, type AgentEvent } from "../src/dbus/client.js";
import { busNameForUuid } from "../src/dbus/names.js";
import { LibvirtClient } from "../src/libvirt/client.js";
import { poolName } from "../src/libvirt/images.js";
import { DEFAULT_IMAGE_DIR } from "../src/pair/disks.js";
import { qemuInfo } from "../src/pair/qemu-info.js";
import { bridgedNic, GUEST_ADDRESS, type LabBridge, labBridge } from "../test/lab/bridge.js";
import { DISK_BYTES, withDisk } from "../test/lab/disk-pair.js";
import { buildGuest, FIXED_BODY } from "../test/lab/guest.js";
import { guestDomainXml } from "../test/lab/guest-domain.js";
import { type Phase, type PhaseKind, runLoad } from "../test/lab/load.js";
import { distinctFreePorts } from "../test/lab/pair.js";
import { applyTcgWorkaround } from "../test/lab/tcg-workaround.js";
import { apt, deb, dpkgStatus, HOOK, NAMES, owner } from "../test/packaging/packages.js";
import { DAEMON_ENV, run } from "../test/support/exec.js";
import { startLibvirtd } from "../test/support/libvirtd.js";
import { ensureSystemBus } from "../test/support/system-bus.js";
import { virsh } from "../test/support/virsh.js";
import { waitUntil } from "../test/support/wait.js";
import { pageUrl, screenshotPage, serveCockpit } from "./cockpit.js";
import { BRIDGE_TAG, COMMAND, DOMAIN, SECONDARY } from "./names.js";
import { elapsed, indent, say, step } from "./progress.js";
import { DEMO_DIR, type DemoState, readState, writeState } from "./state.js";
import { stop } from "./stop.js";

export const SCREENSHOT = join(DEMO_DIR, "passive.png");
/** The primary's own disk, and where pair create puts the secondary's images (in a pool). */
const DISK = join(DEMO_DIR, `${DOMAIN}.qcow2`);
const IMAGE_DIR = join(DEMO_DIR, "images");
/** A lab MAC address: both sides of the pair share it on the bridge. */
const MAC = "52:54:00:c0:10:de";
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

const installed = (args: string[], timeoutMs = 60_000) =>
  run(COMMAND, args, { env: DAEMON_ENV, timeoutMs });

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

export async function start(): Promise<void> {
  if (readState() !== undefined) {
    say("a demo is already set up: removing it first");
    await stop();
  }
  const state: DemoState = { packages: false, domains: [] };
  writeState(state);
  await step("starting the system bus and libvirtd", async () => {
    await ensureSystemBus();
    await startLibvirtd();
  });
  await installPackages(state);

  const guest = await step("building the guest (Debian's kernel, a busybox initramfs)", buildGuest);
  state.bridgeTag = BRIDGE_TAG;
  writeState(state);
  const net = await step(`making the lab bridge and its client's network namespace`, () =>
    labBridge(BRIDGE_TAG),
  );
  say(`bridge ${net.bridge}, and on it the client's namespace ${net.netns}`);
  state.disk = DISK;
  writeState(state);
  await step(`making the guest's disk, a ${DISK_BYTES / 2 ** 20} MiB qcow2 image`, async () => {
    // QEMU's user passes through to the image.
    await run("chmod", ["0755", DEMO_DIR]);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", DISK, String(DISK_BYTES)]);
  });
  const [mirror, compare, compareIn, compareOut, migration, nbd, cockpitPort] =
    (await distinctFreePorts(7)) as [number, number, number, number, number, number, number];
  state.domains = [SECONDARY, DOMAIN];
  writeState(state);
  const xml = join(DEMO_DIR, `${DOMAIN}.xml`);
  writeFileSync(
    xml,
    withDisk(guestDomainXml({ name: DOMAIN, ...guest, nic: bridgedNic(net.bridge, MAC) }), DISK),
  );
  await virsh(["define", xml]);
  say(
    `defined ${DOMAIN}: a qcow2 disk on virtio-blk (${DISK}), a virtio NIC on bridge ${net.bridge}`,
  );
  state.imageDir = IMAGE_DIR;
  state.pool = poolName(IMAGE_DIR, DEFAULT_IMAGE_DIR);
  writeState(state);
  const created = await step(`colo-hybrid pair create ${DOMAIN} --image-dir ${IMAGE_DIR}`, () =>
    installed([
      "pair",
      "create",
      DOMAIN,
      "--secondary-uri",
      "qemu:///system",
      "--image-dir",
      IMAGE_DIR,
      "--ports",
      [mirror, compare, compareIn, compareOut, migration, nbd].join(","),
      ...PARAMS,
    ]),
  );
  process.stdout.write(indent(`${created.stderr}\n${created.stdout}`));
  await protectAndLoad(state, net, cockpitPort);
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
  net: LabBridge,
  cockpitPort: number,
): Promise<void> {
  const client = await AgentClient.connect();
  const lv = await LibvirtClient.connect("qemu:///system");
  try {
    await step(`starting ${SECONDARY}, then ${DOMAIN}, both paused`, async () => {
      await virsh(["start", SECONDARY, "--paused"]);
      await virsh(["start", DOMAIN, "--paused"]);
    });
    const primary = await lv.lookupByName(DOMAIN);
    const secondary = await lv.lookupByName(SECONDARY);
    await step("waiting for the hook to start both agents", () =>
      waitUntil(
        "both agents on the system bus",
        async () => {
          const uuids = (await client.agents()).map((a) => a.uuid);
          return uuids.includes(primary.uuid) && uuids.includes(secondary.uuid);
        },
        60_000,
        250,
      ),
    );
    // Lab only: QEMU 7.2 under TCG needs it on the primary before replication starts.
    const info = await qemuInfo(lv, primary);
    const workaround = await applyTcgWorkaround(DOMAIN, info, (l) => say(`lab: ${l}`));
    if (workaround !== undefined) {
      state.gdbPid = workaround.gdbPid;
      writeState(state);
    }
    const protectedOut = await step(
      `colo-hybrid protect ${DOMAIN} (it copies the disk to the secondary first)`,
      () => installed(["protect", DOMAIN], 180_000),
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
      modes = await runPhases(client, primary.uuid, forward.socketPath, cockpitPort);
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
      ["colo-hybrid list", "the agents on this host"],
      [`colo-hybrid status ${DOMAIN}`, "the primary's agent in full"],
      [`colo-hybrid events ${DOMAIN}`, "follow it (Ctrl-C ends it)"],
      [
        `ip netns exec ${net.netns} curl http://${GUEST_ADDRESS}/cgi-bin/divergent`,
        `the service, through COLO, from the client on ${net.bridge}`,
      ],
      [`colo-hybrid set ${DOMAIN} enabled=false`, "hybrid mode off: COLO mode whatever the load"],
      [`colo-hybrid failover ${DOMAIN}`, "the primary leaves COLO and runs alone"],
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
    await lv.close();
  }
}
