// A guest as admins run them, protected the user's way: a qcow2 disk on virtio-blk and a
// virtio NIC on a Linux bridge, made a pair by `colo-hybrid pair create` (which makes the
// secondary's images through libvirt's storage API), replicated by `colo-hybrid protect` (which
// copies the disk over NBD first), a write workload, the primary killed, the secondary taking
// over; then `colo-hybrid pair remove` gives the domain back as it was and deletes the images.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtClient } from "../../src/libvirt/client.js";
import { poolName } from "../../src/libvirt/images.js";
import { parseDomainXml } from "../../src/libvirt/xml/domain.js";
import { DEFAULT_IMAGE_DIR } from "../../src/pair/disks.js";
import { runFailover, secondaryFailover } from "../../src/pair/failover.js";
import { qemuInfo } from "../../src/pair/qemu-info.js";
import { BUNDLE, cli } from "../support/cli.js";
import { run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { startLibvirtd, TEST_DOMAIN_PREFIX, virsh } from "../support/services.js";
import { waitUntil } from "../support/wait.js";
import { bridgedNic, GUEST_ADDRESS, type LabBridge, labBridge } from "./bridge.js";
import { recordsOn, withDisk, writePattern } from "./disk-pair.js";
import { buildGuest, FIXED_BODY } from "./guest.js";
import { guestDomainXml } from "./guest-domain.js";
import { distinctFreePorts } from "./pair.js";
import { applyTcgWorkaround } from "./tcg-workaround.js";

const MINUTE = 60_000;
const DISK_BYTES = 64 * 2 ** 20;
const MAC = "52:54:00:c0:10:43";
const WRITES = 30;

const qemuPid = (name: string) =>
  Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, "utf8").trim());

describe("a guest with a disk and a bridged NIC, made a pair and protected by the CLI", () => {
  const tag = randomBytes(3).toString("hex");
  const name = `${TEST_DOMAIN_PREFIX}disk-${tag}`;
  const secondaryName = `${name}-secondary`;
  const dir = join(BUILD_DIR, "lab", `disk-${tag}`);
  const imageDir = join(dir, "images");
  const disk = join(dir, `${name}.qcow2`);
  let net: LabBridge;
  let definedXml: string;
  let acked = 0;
  const get = async (path: string) => net.get(path);

  beforeAll(async () => {
    await startLibvirtd();
    net = await labBridge(tag);
    mkdirSync(dir, { recursive: true });
    // QEMU's user passes through to the images, as a pool's directory would let it.
    await run("chmod", ["0755", dir]);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, String(DISK_BYTES)]);
    // Something the guest never wrote, which the copy to the secondary must carry.
    await writePattern(disk);
    const guest = await buildGuest();
    const xml = withDisk(
      guestDomainXml({ name, ...guest, nic: bridgedNic(net.bridge, MAC) }),
      disk,
    );
    const lv = await LibvirtClient.connect("qemu:///system");
    try {
      await lv.defineXml(xml);
      definedXml = await lv.domainXml(await lv.lookupByName(name), 2);
    } finally {
      await lv.close();
    }
  }, 5 * MINUTE);

  afterAll(async () => {
    for (const n of [name, secondaryName]) {
      await virsh(["destroy", n]).catch(() => undefined);
      await virsh(["undefine", n]).catch(() => undefined);
    }
    await net?.close();
    const pool = poolName(imageDir, DEFAULT_IMAGE_DIR);
    await virsh(["pool-destroy", pool]).catch(() => undefined);
    await virsh(["pool-undefine", pool]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 2 * MINUTE);

  it("pair create makes the secondary's three images, owned by QEMU's user, and defines both", async () => {
    const [base] = await distinctFreePorts(1);
    const r = cli([
      "pair",
      "create",
      name,
      "--secondary-uri",
      "qemu:///system",
      "--base-port",
      String(base),
      "--image-dir",
      imageDir,
    ]);
    expect(r.stderr).toMatch(/vhost-net is turned off on the NIC/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Images of '${secondaryName}' made in ${imageDir}`);
    for (const kind of ["base", "active", "hidden"]) {
      const image = join(imageDir, `${secondaryName}-vda-${kind}.qcow2`);
      const info = JSON.parse((await run("qemu-img", ["info", "--output=json", image])).stdout);
      expect(info).toMatchObject({ format: "qcow2", "virtual-size": DISK_BYTES });
      const owner = (await run("stat", ["-c", "%U:%G", image])).stdout.trim();
      // QEMU's DAC label in the capabilities: Debian runs it as libvirt-qemu:libvirt-qemu.
      expect(owner).toBe("libvirt-qemu:libvirt-qemu");
    }
    expect((await run("stat", ["-c", "%U", disk])).stdout.trim()).toBe("libvirt-qemu");
  });

  it(
    "protect copies the disk to the secondary and reaches COLO; the guest writes through both",
    async () => {
      await virsh(["start", secondaryName, "--paused"]);
      await virsh(["start", name, "--paused"]);
      const lv = await LibvirtClient.connect("qemu:///system");
      try {
        const dom = await lv.lookupByName(name);
        await applyTcgWorkaround(name, await qemuInfo(lv, dom), (l) => console.log(`lab: ${l}`));
      } finally {
        await lv.close();
      }
      const r = await run(process.execPath, [BUNDLE, "protect", name], { timeoutMs: 180_000 });
      expect(r.stderr).toMatch(/protect: syncing .*\(disks \d+ of 64 MiB\)/);
      expect(r.stdout).toMatch(
        new RegExp(`^Domain '${name}' protected: COLO with '${secondaryName}'`),
      );
      await waitUntil(
        `${name} to boot and serve on ${GUEST_ADDRESS}`,
        async () => (await get("/cgi-bin/fixed")) === FIXED_BODY,
        180_000,
        500,
      );
      for (let i = 1; i <= WRITES; i++) {
        expect((await get("/cgi-bin/write")).trim()).toBe(String(i));
        acked = i;
      }
    },
    5 * MINUTE,
  );

  it(
    "the primary's QEMU dies: the secondary takes over with every acknowledged record, and serves at the same address",
    async () => {
      process.kill(qemuPid(name), "SIGKILL");
      const lv = await LibvirtClient.connect("qemu:///system");
      try {
        const secondary = await lv.lookupByName(secondaryName);
        await runFailover(lv, secondary, secondaryFailover(1));
      } finally {
        await lv.close();
      }
      // The survivor writes on where the primary left off.
      expect((await get("/cgi-bin/write")).trim()).toBe(String(acked + 1));
      await virsh(["destroy", secondaryName]);
      // The secondary's takeover committed its overlays into its base: the disk it ran on.
      const base = join(imageDir, `${secondaryName}-vda-base.qcow2`);
      expect({ acknowledged: acked, ...(await recordsOn(base, dir)) }).toEqual({
        acknowledged: WRITES,
        records: WRITES + 1,
        pattern: true,
      });
    },
    3 * MINUTE,
  );

  it("pair remove gives the domain back as it was, and deletes the secondary's images", async () => {
    await virsh(["destroy", name]).catch(() => undefined);
    const r = cli(["pair", "remove", name]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Images of '${secondaryName}' deleted`);
    const lv = await LibvirtClient.connect("qemu:///system");
    try {
      const xml = await lv.domainXml(await lv.lookupByName(name), 2);
      expect(xml).toBe(definedXml);
      expect(parseDomainXml(xml).metadata).toBeUndefined();
    } finally {
      await lv.close();
    }
    for (const kind of ["base", "active", "hidden"]) {
      expect(existsSync(join(imageDir, `${secondaryName}-vda-${kind}.qcow2`))).toBe(false);
    }
  });
});
