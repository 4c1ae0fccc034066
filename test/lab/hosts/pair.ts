// A COLO pair across two lab hosts, brought up the user's way on host A (docs/lab-hosts.md):
// lab hosts with the guests' LAN and agents, the plain domain defined on A, `pair create` there
// with the secondary on B over qemu+tls, both started paused (each host's hook starts its
// agent), the TCG workaround on the primary, `protect`, and the guest answering under COLO.
// For two-hosts.test.ts and the fault drills (host-faults.test.ts, bench/host-faults.ts).
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentClient } from "../../../src/dbus/client.js";
import { busNameForUuid } from "../../../src/dbus/names.js";
import type { AgentProperties } from "../../../src/dbus/values.js";
import { DEFAULT_IMAGE_DIR } from "../../../src/pair/disks.js";
import { installPolicy } from "../../dbus/host.js";
import { TEST_DOMAIN_PREFIX } from "../../support/domains.js";
import type { RunResult } from "../../support/exec.js";
import { waitUntil } from "../../support/wait.js";
import { bridgedNic, GUEST_ADDRESS } from "../bridge.js";
import { DISK_BYTES, withDisk, writePattern } from "../disk-pair.js";
import { buildGuest, FIXED_BODY } from "../guest.js";
import { guestDomainXml } from "../guest-domain.js";
import {
  type GuestLan,
  type LabHost,
  type LabHosts,
  startLabHosts,
  stopLabHosts,
} from "./hosts.js";
import { LAB_DIR, REPO_DIR } from "./layout.js";
import { applyTcgWorkaroundOn } from "./tcg.js";

const MINUTE = 60_000;
const MAC = "52:54:00:c0:77:01";
const COMMAND = join(REPO_DIR, "dist", "colo-hybrid.mjs");

export interface HostsPairOptions {
  /** colo-period, ms. */
  period: number;
  passiveCount: number;
  basePort: number;
  /** Where the bring-up's lines go. */
  log: (line: string) => void;
  /**
   * A qcow2 disk on virtio-blk, in A's /var/lib/libvirt/images with recordsOn's pattern written;
   * pair create makes the secondary's images on B, protect copies it there over NBD.
   */
  disk?: boolean;
  /** Lab hosts: 2 (default), or 3 for a cluster's third vote (colo-lab-c). */
  hosts?: 2 | 3;
}

/** The disk's images, as paths on their hosts. */
export interface HostsPairImages {
  /** On A. */
  primary: string;
  /** On B: what the secondary runs on after a takeover. */
  secondaryBase: string;
}

export interface HostsPair {
  lab: LabHosts;
  /** The primary's host and the secondary's. */
  a: LabHost;
  b: LabHost;
  lan: GuestLan;
  name: string;
  secondaryName: string;
  /** On the system bus both hosts' agents share. */
  client: AgentClient;
  primaryBus: string;
  secondaryBus: string;
  primaryUuid: string;
  secondaryUuid: string;
  /** With `disk`. */
  images?: HostsPairImages;
  /** What `pair create` said. */
  created: string;
  /** How long `protect` took, ms. */
  protectedAfterMs: number;
  /** An agent's properties (the primary's by default). */
  props(bus?: string): Promise<AgentProperties>;
  /** colo-hybrid on a host, as its admin runs it there. */
  colo(host: LabHost, args: readonly string[]): Promise<RunResult>;
  qemuPid(host: LabHost, domain: string): Promise<number>;
  /** Stops the lab (and with it the pair) and removes the bus policy; again is a no-op. */
  teardown(): Promise<void>;
}

export async function startHostsPair(opts: HostsPairOptions): Promise<HostsPair> {
  const removePolicy = await installPolicy();
  let client: AgentClient | undefined;
  let tornDown = false;
  const teardown = async () => {
    if (tornDown) return;
    tornDown = true;
    client?.close();
    await stopLabHosts();
    await removePolicy();
  };
  try {
    const lab = await startLabHosts({ count: opts.hosts ?? 2, guestLan: true, agents: true });
    const [a, b] = lab.hosts as [LabHost, LabHost];
    const lan = lab.guestLan as GuestLan;
    client = await AgentClient.connect();
    const name = `${TEST_DOMAIN_PREFIX}hosts-${randomBytes(3).toString("hex")}`;
    const secondaryName = `${name}-secondary`;
    const colo = (host: LabHost, args: readonly string[]) =>
      host.run(process.execPath, [COMMAND, ...args], { timeoutMs: 3 * MINUTE });

    // The plain domain on A, as its admin has it: a virtio NIC on the host's guest bridge, and
    // maybe a disk in the host's image directory.
    const guest = await buildGuest();
    const plainXml = guestDomainXml({ name, ...guest, nic: bridgedNic(lan.bridge, MAC) });
    const images = opts.disk
      ? {
          primary: `/var/lib/libvirt/images/${name}.qcow2`,
          secondaryBase: `${DEFAULT_IMAGE_DIR}/${secondaryName}-vda-base.qcow2`,
        }
      : undefined;
    if (images) {
      await a.run("qemu-img", ["create", "-q", "-f", "qcow2", images.primary, `${DISK_BYTES}`]);
      await writePattern(images.primary, a.run);
      await a.run("chown", ["libvirt-qemu:kvm", images.primary]);
    }
    // In the lab's directory: the stop removes it.
    const xmlFile = join(LAB_DIR, `${name}.xml`);
    await writeFile(xmlFile, images ? withDisk(plainXml, images.primary) : plainXml);
    await a.run("virsh", ["define", xmlFile]);
    const create = await colo(a, [
      ...["pair", "create", name, "--secondary-uri", b.tlsUri],
      ...["--base-port", `${opts.basePort}`, "--colo-period", `${opts.period}`],
      ...["--passive-count", `${opts.passiveCount}`],
    ]);
    const created = create.stderr + create.stdout;
    opts.log(`pair create on ${a.name}: ${created.trim()}`);

    // The secondary first, paused (the primary's start waits for it to connect); the hooks
    // start an agent on each host.
    await b.run("virsh", ["start", secondaryName, "--paused"]);
    await a.run("virsh", ["start", name, "--paused"]);
    await applyTcgWorkaroundOn(a, name, opts.log);
    const t0 = Date.now();
    const r = await colo(a, ["protect", name]);
    const protectedAfterMs = Date.now() - t0;
    opts.log(`colo-hybrid protect on ${a.name} (${protectedAfterMs} ms): ${r.stdout.trim()}`);
    await waitUntil(
      `${name} to boot under COLO and answer on ${GUEST_ADDRESS} from ${lan.client.netns}`,
      async () => (await lan.client.get("/cgi-bin/fixed")) === FIXED_BODY,
      3 * MINUTE,
      500,
    );

    const uuid = async (host: LabHost, domain: string) =>
      (await host.run("virsh", ["domuuid", domain])).stdout.trim();
    const primaryUuid = await uuid(a, name);
    const secondaryUuid = await uuid(b, secondaryName);
    const primaryBus = busNameForUuid(primaryUuid);
    const agents = client;
    return {
      lab,
      a,
      b,
      lan,
      name,
      secondaryName,
      client,
      primaryBus,
      secondaryBus: busNameForUuid(secondaryUuid),
      primaryUuid,
      secondaryUuid,
      ...(images && { images }),
      created,
      protectedAfterMs,
      props: (bus = primaryBus) => agents.properties(bus),
      colo,
      qemuPid: async (host, domain) =>
        Number((await host.run("cat", [`/run/libvirt/qemu/${domain}.pid`])).stdout.trim()),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
