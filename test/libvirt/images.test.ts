// The secondary's images made through libvirt's storage API (images.ts), over a fake host that
// has a pool and some volumes already: re-protection uses a stale side's images again.
import { describe, expect, it } from "vitest";
import type { PoolInfo, PoolRef, VolumeRef } from "../../src/libvirt/api.js";
import { ErrorCode, LibvirtError } from "../../src/libvirt/errors.js";
import { imagesToMake } from "../../src/libvirt/images.js";
import { coloQemu, FakeLibvirt } from "../agent/fake-libvirt.js";

const GIB = 2 ** 30;
const POOL = { name: "colo-hybrid-images", dir: "/var/lib/colo-hybrid/images" };
const image = (kind: string) => `${POOL.dir}/web1-secondary-vda-${kind}.qcow2`;
const IMAGES = ["base", "active", "hidden"].map((k) => ({ path: image(k), sizeOf: "vda" }));
const SIZES = new Map([["vda", GIB]]);
/** Debian's: QEMU runs as libvirt-qemu (64055). */
const CAPABILITIES =
  "<capabilities><host><secmodel><model>dac</model><doi>0</doi>" +
  "<baselabel type='kvm'>+64055:+994</baselabel></secmodel></host></capabilities>";

/** A host with the pool over POOL.dir, `available` bytes free in it, and volumes at `paths`. */
class StorageHost extends FakeLibvirt {
  readonly made: string[] = [];
  readonly deleted: string[] = [];

  constructor(
    private readonly paths: string[],
    private readonly available: number,
  ) {
    super("web1-secondary", undefined, coloQemu("secondary"));
  }

  override async capabilities(): Promise<string> {
    return CAPABILITIES;
  }
  override async poolLookupByName(name: string): Promise<PoolRef> {
    if (name !== POOL.name) throw new LibvirtError("libvirt", "no pool", ErrorCode.noStoragePool);
    return { name, uuid: "8f0d6c1e-0b5a-4b8e-9d2f-3a4c5b6d7e8f" };
  }
  override async poolInfo(): Promise<PoolInfo> {
    return { state: "running", capacity: 100 * GIB, allocation: 0, available: this.available };
  }
  override async poolRefresh(): Promise<void> {}
  override async volLookupByPath(path: string): Promise<VolumeRef> {
    if (!this.paths.includes(path))
      throw new LibvirtError("libvirt", "no volume", ErrorCode.noStorageVolume);
    return { pool: POOL.name, name: path.slice(path.lastIndexOf("/") + 1), key: path };
  }
  override async volCreateXml(pool: PoolRef, xml: string): Promise<VolumeRef> {
    const name = /<name>([^<]*)<\/name>/.exec(xml)?.[1] ?? "";
    this.made.push(name);
    return { pool: pool.name, name, key: `${POOL.dir}/${name}` };
  }
  override async volDelete(vol: VolumeRef): Promise<void> {
    this.deleted.push(vol.name);
  }
}

const toMake = (host: StorageHost, reusable: string[] = []) =>
  imagesToMake({ lv: host, uri: "qemu+ssh://host2/system" }, IMAGES, SIZES, POOL, "kvm", reusable);

describe("imagesToMake", () => {
  it("uses the reusable images there as they are, and makes only the missing ones", async () => {
    const host = new StorageHost([image("base"), image("active")], 10 * GIB);
    const plan = await toMake(
      host,
      IMAGES.map((i) => i.path),
    );
    expect(plan.problems).toEqual([]);
    const undo = await plan.make();
    expect(host.made).toEqual(["web1-secondary-vda-hidden.qcow2"]);
    // Undone, only what it made goes: the stale side's images stay.
    await undo();
    expect(host.deleted).toEqual(["web1-secondary-vda-hidden.qcow2"]);
  });

  it("counts only the images it makes against the pool's free space", async () => {
    const reusable = IMAGES.map((i) => i.path);
    const room = new StorageHost([image("base"), image("active")], GIB);
    expect((await toMake(room, reusable)).problems).toEqual([]);
    const none = new StorageHost([image("base")], GIB);
    expect((await toMake(none, reusable)).problems).toEqual([
      `qemu+ssh://host2/system has 1024 MiB free in ${POOL.dir}, and the secondary's images take up to 2048 MiB (each the size of its disk)`,
    ]);
  });

  it("refuses images there that are not reusable, naming them", async () => {
    const host = new StorageHost([image("base"), image("hidden")], 10 * GIB);
    expect((await toMake(host, [image("base")])).problems).toEqual([
      `images exist already on qemu+ssh://host2/system: ${image("hidden")} (a pair made before? colo-hybrid pair remove deletes them)`,
    ]);
    expect((await toMake(host)).problems).toEqual([
      `images exist already on qemu+ssh://host2/system: ${image("base")}, ${image("hidden")} (a pair made before? colo-hybrid pair remove deletes them)`,
    ]);
  });
});
