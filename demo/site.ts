// Where `make demo` runs its pair: both sides on this host (the default), or across two lab hosts
// (`make demo ON=lab-hosts`, test/lab/hosts/): the primary on colo-lab-a, the secondary on
// colo-lab-b reached over qemu+tls, each host's libvirtd running the installed package's hook.
// Either way the guest's NIC is on a bridge with a client namespace on it, and its disk is a
// qcow2 image on the primary's host; what each adds is written in the demo's state first.
import { join, relative as relativeTo } from "node:path";
import { LibvirtClient } from "../src/libvirt/client.js";
import { poolName } from "../src/libvirt/images.js";
import { DEFAULT_IMAGE_DIR } from "../src/pair/disks.js";
import { qemuInfo } from "../src/pair/qemu-info.js";
import { type Forward, labBridge } from "../test/lab/bridge.js";
import { DISK_BYTES } from "../test/lab/disk-pair.js";
import { type GuestLan, type LabHost, startLabHosts } from "../test/lab/hosts/hosts.js";
import { REPO_DIR } from "../test/lab/hosts/layout.js";
import { applyTcgWorkaroundOn } from "../test/lab/hosts/tcg.js";
import { distinctFreePorts } from "../test/lab/pair.js";
import { applyTcgWorkaround, type Workaround } from "../test/lab/tcg-workaround.js";
import { LIB } from "../test/packaging/packages.js";
import { DAEMON_ENV, type RunOptions, type RunResult, run } from "../test/support/exec.js";
import { startLibvirtd } from "../test/support/libvirtd.js";
import { ensureSystemBus } from "../test/support/system-bus.js";
import { BRIDGE_TAG, DOMAIN } from "./names.js";
import { say, step } from "./progress.js";
import { DEMO_DIR, type DemoState, writeState } from "./state.js";

export type SiteKind = "this-host" | "lab-hosts";

type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export interface DemoSite {
  /** Each side's host, by name: its admin's commands run there. */
  primaryHost: string;
  secondaryHost: string;
  onPrimary: Runner;
  onSecondary: Runner;
  /** The bridge the guest's NIC is on, and the client's namespace with its way to the guest. */
  net: { bridge: string; netns: string; forward(port: number): Promise<Forward> };
  /** The primary's disk, a path on its host. */
  disk: string;
  /** pair create's arguments for the secondary's side. */
  pairArgs: string[];
  /** Commands worth trying there, with what each shows, for the demo's last lines. */
  tries: [string, string][];
  /** Lab only: QEMU 7.2 under TCG needs it on the primary before replication starts. */
  tcgWorkaround(log: (line: string) => void): Promise<Workaround | undefined>;
}

/** A lab MAC address: both sides of the pair share it on the bridge. */
export const MAC = "52:54:00:c0:10:de";

/** A path as given from the checkout, where make runs. */
const relative = (path: string) => relativeTo(REPO_DIR, path);

const here: Runner = (cmd, args, opts) => run(cmd, args, { env: DAEMON_ENV, ...opts });

/** The site, made: its daemons, network and the primary's empty disk. */
export function makeSite(kind: SiteKind, state: DemoState): Promise<DemoSite> {
  return kind === "lab-hosts" ? labHostsSite(state) : thisHostSite(state);
}

async function thisHostSite(state: DemoState): Promise<DemoSite> {
  await step("starting the system bus and libvirtd", async () => {
    await ensureSystemBus();
    await startLibvirtd();
  });
  state.bridgeTag = BRIDGE_TAG;
  writeState(state);
  const net = await step("making the lab bridge and its client's network namespace", () =>
    labBridge(BRIDGE_TAG),
  );
  say(`bridge ${net.bridge}, and on it the client's namespace ${net.netns}`);
  const disk = join(DEMO_DIR, `${DOMAIN}.qcow2`);
  state.disk = disk;
  writeState(state);
  // QEMU's user passes through to the image.
  await run("chmod", ["0755", DEMO_DIR]);
  await makeDisk(disk, here);
  // The secondary's images in the demo's directory, in a pool of their own (pair create makes both).
  const imageDir = join(DEMO_DIR, "images");
  state.imageDir = imageDir;
  state.pool = poolName(imageDir, DEFAULT_IMAGE_DIR);
  writeState(state);
  const ports = await distinctFreePorts(6);
  return {
    primaryHost: "this host",
    secondaryHost: "this host",
    onPrimary: here,
    onSecondary: here,
    net,
    disk,
    pairArgs: [
      ...["--secondary-uri", "qemu:///system", "--image-dir", imageDir],
      ...["--ports", ports.join(",")],
    ],
    tries: [],
    tcgWorkaround: async (log) => {
      const lv = await LibvirtClient.connect("qemu:///system");
      try {
        return await applyTcgWorkaround(
          DOMAIN,
          await qemuInfo(lv, await lv.lookupByName(DOMAIN)),
          log,
        );
      } finally {
        await lv.close();
      }
    },
  };
}

async function labHostsSite(state: DemoState): Promise<DemoSite> {
  await step("starting the system bus", ensureSystemBus);
  state.labHosts = true;
  writeState(state);
  const lab = await step(
    "starting lab hosts colo-lab-a and colo-lab-b, their libvirtd running the package's hook",
    () =>
      startLabHosts({
        guestLan: true,
        agents: true,
        hook: { libDir: LIB, node: "/usr/bin/node" },
      }),
  );
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const lan = lab.guestLan as GuestLan;
  say(
    `${a.name} at ${a.address}, ${b.name} at ${b.address}; the guests' bridge ${lan.bridge} on each, joined into one LAN with the client's namespace ${lan.client.netns}`,
  );
  const disk = `/var/lib/libvirt/images/${DOMAIN}.qcow2`;
  await makeDisk(disk, a.run);
  const on =
    (host: LabHost): Runner =>
    (cmd, args, opts) =>
      host.run(cmd, args, { env: DAEMON_ENV, ...opts });
  return {
    primaryHost: a.name,
    secondaryHost: b.name,
    onPrimary: on(a),
    onSecondary: on(b),
    net: { bridge: lan.bridge, netns: lan.client.netns, forward: lan.client.forward },
    disk,
    pairArgs: ["--secondary-uri", b.tlsUri],
    tries: [a, b].map((h) => [
      `ssh -i ${relative(lab.sshKey)} -o UserKnownHostsFile=${relative(lab.knownHosts)} root@${h.address} virsh list`,
      `the domains on ${h.name}, over the lab's ssh`,
    ]),
    tcgWorkaround: (log) => applyTcgWorkaroundOn(a, DOMAIN, log),
  };
}

function makeDisk(disk: string, on: Runner): Promise<unknown> {
  return step(`making the guest's disk, a ${DISK_BYTES / 2 ** 20} MiB qcow2 image`, () =>
    on("qemu-img", ["create", "-q", "-f", "qcow2", disk, String(DISK_BYTES)]),
  );
}
