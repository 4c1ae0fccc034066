// Re-protection, planned (resync.ts) and its network plumbing as data (primary-network.ts): a
// pair made by planPair from a plain domain with a disk and a virtio bridge NIC, whichever side
// of it survives a failover, made the primary of a new secondary.
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { parseDomainXml } from "../../src/libvirt/xml/domain.js";
import { planPair } from "../../src/pair/plumbing.js";
import {
  type NetworkPiece,
  networkArgs,
  networkCommand,
  primaryNetwork,
} from "../../src/pair/primary-network.js";
import {
  missingPieces,
  planResync,
  type ResyncChoices,
  ResyncError,
  removals,
} from "../../src/pair/resync.js";
import { config, plain, UUID } from "./plan.js";

const DISK = `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
  <source file='/var/lib/libvirt/images/p.qcow2'/><target dev='vda' bus='virtio'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></disk>`;
const NIC = `<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br0'/>
  <model type='virtio'/></interface>`;
const HOST1 = "qemu+ssh://host1/system";
const HOST2 = "qemu+ssh://host2/system";
/** The primary "p" on host1 (192.0.2.1), its secondary "p-secondary" on host2 (192.0.2.2). */
const TOWARD_HOST2: ResyncChoices = {
  secondaryUri: HOST2,
  primaryUri: HOST1,
  address: "192.0.2.1",
  replicationHost: "host2",
};
const TOWARD_HOST1: ResyncChoices = {
  secondaryUri: HOST1,
  primaryUri: HOST2,
  address: "192.0.2.2",
  replicationHost: "host1",
};
const PAIR = planPair(plain(DISK + NIC, "kvm"), {
  ...TOWARD_HOST2,
  basePort: 9100,
  params: { "passive-limit": 300 },
});
const PORTS = {
  migration: 9104,
  nbd: 9105,
  nics: [{ mirror: 9100, compare: 9101, compareIn: 9102, compareOut: 9103 }],
};
const PARAMS = { ...DEFAULT_PARAMS, passiveLimit: 300 };
/** The secondary's XML as libvirt gives it back: with the UUID it made. */
const SECONDARY_UUID = "5b0c3b1e-8f0a-4d3c-9a51-2f1e7d6c4b3a";
const EX_SECONDARY = PAIR.secondary.xml.replace(
  "<name>p-secondary</name>",
  `<name>p-secondary</name><uuid>${SECONDARY_UUID}</uuid>`,
);
/** The UUID of the stale side the new secondary replaces. */
const STALE_UUID = "9d6f8a2e-3c4b-4e5f-8a7b-1c2d3e4f5a6b";
const IMAGES = "/var/lib/colo-hybrid/images";

const metadataOf = (xml: string) => {
  const meta = config(xml).metadata;
  if (!meta?.ok) throw new Error("no readable metadata");
  return meta.value;
};
const originalOf = (xml: string) =>
  config(`<domain type='kvm'><name>x</name>${metadataOf(xml).original}</domain>`);

function refusal(xml: string, choices: ResyncChoices = TOWARD_HOST2): ResyncError {
  try {
    planResync(xml, choices);
  } catch (e) {
    if (e instanceof ResyncError) return e;
    throw e;
  }
  throw new Error("planned without error");
}

describe("planResync: an ex-primary", () => {
  const plan = planResync(PAIR.primary.xml, { ...TOWARD_HOST2, secondaryUuid: STALE_UUID });

  it("keeps its name and UUID, and gets back the persistent XML pair create gave it", () => {
    expect(plan.survivor).toBe("p");
    expect(parseDomainXml(plan.pair.primary.xml)).toMatchObject({ name: "p", uuid: UUID });
    expect(plan.pair.primary.xml).toBe(PAIR.primary.xml);
    expect(plan).toMatchObject({ disks: 1, nics: 1 });
  });

  it("is a primary on its own disk: colo-compare in its plumbing, its original image under the quorum", () => {
    const colo = config(plan.pair.primary.xml).colo;
    expect(colo?.role).toBe("primary");
    expect(colo?.objects).toContain("colo-compare,id=comp0");
    expect(colo?.diskImages).toEqual([
      { path: "/var/lib/libvirt/images/p.qcow2", format: "qcow2" },
    ]);
  });

  it("gives the new secondary the pair's other name, the stale side's UUID, and images named after it", () => {
    expect(plan.pair.secondary.name).toBe("p-secondary");
    expect(config(plan.pair.secondary.xml)).toMatchObject({
      name: "p-secondary",
      uuid: STALE_UUID,
      qemuArgs: config(PAIR.secondary.xml).qemuArgs,
    });
    expect(plan.pair.images.map((i) => i.path)).toEqual(
      ["base", "active", "hidden"].map((k) => `${IMAGES}/p-secondary-vda-${k}.qcow2`),
    );
    const fresh = planResync(PAIR.primary.xml, TOWARD_HOST2);
    expect(config(fresh.pair.secondary.xml).uuid).toBeUndefined();
  });

  it("keeps the pair's ports, parameters and original devices; each side's metadata names the other", () => {
    expect(plan.pair.ports).toEqual(PAIR.ports);
    const kept = { protect: false, ports: PORTS, params: PARAMS };
    const original = metadataOf(PAIR.primary.xml).original;
    expect(plan.primaryMeta).toEqual({
      role: "primary",
      peer: { uri: HOST2, domain: "p-secondary" },
      ...kept,
      original,
    });
    expect(metadataOf(plan.pair.primary.xml)).toEqual(plan.primaryMeta);
    expect(metadataOf(plan.pair.secondary.xml)).toEqual({
      role: "secondary",
      peer: { uri: HOST1, domain: "p" },
      ...kept,
      original,
    });
  });

  it("does not warn that the primary's start waits for its secondary: it runs already", () => {
    expect(PAIR.warnings.some((w) => w.startsWith("starting 'p' waits"))).toBe(true);
    expect(plan.pair.warnings.filter((w) => w.startsWith("starting"))).toEqual([]);
  });
});

describe("planResync: an ex-secondary", () => {
  const plan = planResync(EX_SECONDARY, { ...TOWARD_HOST1, secondaryUuid: STALE_UUID });
  const BASE = `${IMAGES}/p-secondary-vda-base.qcow2`;

  it("keeps its name and UUID, and becomes a primary on the base image it took over on", () => {
    expect(plan.survivor).toBe("p-secondary");
    expect(parseDomainXml(plan.pair.primary.xml)).toMatchObject({
      name: "p-secondary",
      uuid: SECONDARY_UUID,
    });
    const colo = config(plan.pair.primary.xml).colo;
    expect(colo?.role).toBe("primary");
    expect(colo?.objects).toContain("colo-compare,id=comp0");
    expect(colo?.incoming).toBeUndefined();
    expect(colo?.diskImages).toEqual([{ path: BASE, format: "qcow2" }]);
    expect(config(plan.pair.primary.xml).qemuArgs).toContain(
      "socket,id=compare1,host=192.0.2.2,port=9101,server=on,wait=on",
    );
  });

  it("gives the new secondary the primary's old name and its images, in the image directory", () => {
    expect(config(plan.pair.secondary.xml)).toMatchObject({ name: "p", uuid: STALE_UUID });
    expect(config(plan.pair.secondary.xml).colo?.role).toBe("secondary");
    expect(plan.pair.images.map((i) => i.path)).toEqual(
      ["base", "active", "hidden"].map((k) => `${IMAGES}/p-vda-${k}.qcow2`),
    );
    const elsewhere = planResync(EX_SECONDARY, { ...TOWARD_HOST1, imageDir: "/srv/colo" });
    expect(elsewhere.pair.images[0]?.path).toBe("/srv/colo/p-vda-base.qcow2");
  });

  it("keeps the pair's ports and parameters, and its original devices with the disk on its base image", () => {
    expect(plan.pair.ports).toEqual(PAIR.ports);
    const kept = { protect: false, ports: PORTS, params: PARAMS };
    expect(plan.primaryMeta).toMatchObject({
      role: "primary",
      peer: { uri: HOST1, domain: "p" },
      ...kept,
    });
    expect(metadataOf(plan.pair.secondary.xml)).toMatchObject({
      role: "secondary",
      peer: { uri: HOST2, domain: "p-secondary" },
      ...kept,
    });
    const before = originalOf(PAIR.primary.xml);
    for (const side of [plan.pair.primary, plan.pair.secondary]) {
      const original = originalOf(side.xml);
      expect(original.nics).toEqual(before.nics);
      expect(original.disks).toMatchObject([{ target: "vda", source: BASE, format: "qcow2" }]);
    }
  });
});

describe("planResync: refusals", () => {
  it("refuses a domain without colo-hybrid metadata", () => {
    expect(refusal(plain(DISK + NIC, "kvm")).message).toBe(
      "cannot protect 'p' again:\n" +
        "  - it has no colo-hybrid metadata: it is not a side of a pair that pair create made",
    );
  });

  it("refuses metadata that keeps no NIC's ports (an older pair create's)", () => {
    const older = PAIR.primary.xml.replace(/<colo:nic [^>]*\/>/, "");
    expect(metadataOf(older).ports).toEqual({ migration: 9104, nbd: 9105 });
    const e = refusal(older);
    expect(e.message).toMatch(/^cannot protect 'p' again:\n/);
    expect(e.problems).toEqual([
      "its metadata keeps not every port of the pair (made by an older 'pair create'): remove the pair and make it again",
    ]);
  });

  it("refuses metadata it cannot read, and a domain without COLO's plumbing", () => {
    const bad = PAIR.primary.xml.replace("<colo:role>primary", "<colo:role>tertiary");
    expect(refusal(bad).problems).toEqual([
      expect.stringMatching(/^its colo-hybrid metadata cannot be read: hybrid\/role: /),
    ]);
    const unplumbed = PAIR.primary.xml.replace(/<qemu:commandline>[\s\S]*<\/qemu:commandline>/, "");
    expect(refusal(unplumbed).problems).toEqual([
      "it has no COLO plumbing in its <qemu:commandline>",
    ]);
  });

  it("says what pair create would refuse, naming the survivor", () => {
    const e = refusal(EX_SECONDARY, { ...TOWARD_HOST1, address: "0.0.0.0" });
    expect(e.domain).toBe("p-secondary");
    expect(e.problems).toEqual([expect.stringMatching(/^address '0.0.0.0' is not allowed/)]);
  });
});

describe("missingPieces and removals", () => {
  const pieces = planResync(PAIR.primary.xml, TOWARD_HOST2).pair.primaryNetwork;
  const ids = (ps: readonly NetworkPiece[]) => ps.map((p) => p.id);

  it("adds only the objects to an ex-primary, whose failover left its chardevs", () => {
    const chardevs = ids(pieces.filter((p) => p.kind === "chardev"));
    expect(chardevs).toHaveLength(6);
    const missing = missingPieces(pieces, {
      chardevs: ["charmonitor", ...chardevs, "charserial0"],
      objects: ["pc.ram"],
    });
    expect(missing.every((p) => p.kind === "object")).toBe(true);
    expect(ids(missing)).toEqual(["m0", "redire0", "redire1", "iothread1", "comp0"]);
  });

  it("adds everything to an ex-secondary, whose filter-rewriter stays", () => {
    const present = { chardevs: ["charmonitor", "charserial0"], objects: ["pc.ram", "rew0"] };
    expect(missingPieces(pieces, present)).toEqual(pieces);
  });

  it("takes away what was added last first: every colo-compare before its IOThread, objects before chardevs", () => {
    const nic = { netdev: "hostnet0", vnetHdr: true, vhostOff: true };
    const twoNics = primaryNetwork([nic, { ...nic, netdev: "hostnet1" }], "192.0.2.1", [
      { mirror: 9100, compare: 9101, compareIn: 9102, compareOut: 9103 },
      { mirror: 9106, compare: 9107, compareIn: 9108, compareOut: 9109 },
    ]);
    const steps = removals(twoNics);
    const order = steps.filter((c) => c.command === "object-del").map((c) => c.args.id);
    expect(order).toEqual([
      "comp0-nic1",
      "redire1-nic1",
      "redire0-nic1",
      "m0-nic1",
      "comp0",
      "iothread1",
      "redire1",
      "redire0",
      "m0",
    ]);
    for (const compare of ["comp0", "comp0-nic1"])
      expect(order.indexOf(compare)).toBeLessThan(order.indexOf("iothread1"));
    // Each NIC's chardevs go after the objects that use them.
    const at = (command: string, id: string) =>
      steps.findIndex((c) => c.command === command && c.args.id === id);
    expect(at("chardev-remove", "compare1")).toBeGreaterThan(at("object-del", "comp0"));
    expect(at("chardev-remove", "mirror0")).toBeGreaterThan(at("object-del", "m0"));
  });
});

describe("the primary's network plumbing as data", () => {
  const pieces = PAIR.primaryNetwork;
  const piece = (id: string) => {
    const found = pieces.find((p) => p.id === id);
    if (found === undefined) throw new Error(`no piece ${id}`);
    return found;
  };

  it("is what the primary's <qemu:commandline> carries, in order", () => {
    const args = config(PAIR.primary.xml).qemuArgs;
    const network = networkArgs(pieces);
    const at = args.indexOf(network[0] ?? "");
    expect(at).toBeGreaterThan(0);
    expect(args.slice(at, at + network.length)).toEqual(network);
  });

  it("makes chardevs at run time: servers that do not wait, clients that are no server", () => {
    const addr = (host: string, port: string) => ({ type: "inet", data: { host, port } });
    expect(networkCommand(piece("mirror0"))).toEqual({
      command: "chardev-add",
      args: {
        id: "mirror0",
        backend: {
          type: "socket",
          data: { addr: addr("192.0.2.1", "9100"), server: true, wait: false },
        },
      },
    });
    // The one that holds QEMU's start on the command line cannot hold a running QEMU.
    expect(networkCommand(piece("compare1")).args).toMatchObject({
      backend: { data: { server: true, wait: false } },
    });
    expect(networkCommand(piece("compare0-0"))).toEqual({
      command: "chardev-add",
      args: {
        id: "compare0-0",
        backend: { type: "socket", data: { addr: addr("127.0.0.1", "9102"), server: false } },
      },
    });
  });

  it("makes objects at run time with their properties as JSON, vnet_hdr_support a boolean", () => {
    expect(networkCommand(piece("m0"))).toEqual({
      command: "object-add",
      args: {
        "qom-type": "filter-mirror",
        id: "m0",
        netdev: "hostnet0",
        vnet_hdr_support: true,
        queue: "tx",
        outdev: "mirror0",
      },
    });
    expect(networkCommand(piece("iothread1"))).toEqual({
      command: "object-add",
      args: { "qom-type": "iothread", id: "iothread1" },
    });
    expect(networkCommand(piece("comp0")).args).toEqual({
      "qom-type": "colo-compare",
      id: "comp0",
      primary_in: "compare0-0",
      secondary_in: "compare1",
      outdev: "compare_out0",
      iothread: "iothread1",
      vnet_hdr_support: true,
    });
  });
});
