// pair create with more than one NIC: each NIC gets the whole network plumbing with its own ids
// (ids.ts) and four ports; the pair keeps one -incoming, one NBD port and one IOThread. On real
// QEMU: test/lab/two-nics.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allNicIds, nicIds, plumbedNics } from "../../src/pair/ids.js";
import {
  DEFAULT_BASE_PORT,
  NIC_PORT_NAMES,
  type NicPorts,
  type PairPorts,
  PORT_NAMES,
  planPair,
} from "../../src/pair/plumbing.js";
import { planUnpair } from "../../src/pair/unpair.js";
import { config, LOCAL, plain, problems } from "./plan.js";

const MACS = ["52:54:00:c0:10:01", "52:54:00:c0:10:02", "52:54:00:c0:10:03", "52:54:00:c0:10:04"];
const [MAC0 = "", MAC1 = "", MAC2 = ""] = MACS;

const tap = (type: string, mac: string, model: string, extra = "") =>
  `<interface type='${type}'><mac address='${mac}'/><source ${type}='lan-${mac.slice(-1)}'/>` +
  `<model type='${model}'/>${extra}</interface>`;
/** A virtio NIC on a bridge, an e1000 on a bridge, a virtio NIC with a user alias on a network. */
const THREE = plain(
  tap("bridge", MAC0, "virtio") +
    tap("bridge", MAC1, "e1000") +
    tap("network", MAC2, "virtio", "<alias name='ua-lan'/>"),
);
const args = (xml: string) => config(xml).qemuArgs;

describe("nicIds", () => {
  it("keeps the recipe's ids for NIC 0, and suffixes the others' with -nicN", () => {
    expect(nicIds(0).primaryObjects).toEqual({
      mirror: "m0",
      redirectorIn: "redire0",
      redirectorOut: "redire1",
      compare: "comp0",
    });
    expect(nicIds(0).secondaryChardevs).toEqual({ mirror: "red0", compare: "red1" });
    expect(nicIds(2).primaryChardevs.compareInClient).toBe("compare0-0-nic2");
    expect(nicIds(1).secondaryObjects.rewriter).toBe("rew0-nic1");
  });

  it("never gives two NICs' objects or chardevs one id", () => {
    const every = allNicIds(20).flatMap((ids) => Object.values(ids).flatMap(Object.values));
    expect(new Set(every).size).toBe(every.length);
  });

  it("counts the NICs of either side's plumbing from its objects, at least 1", () => {
    const plan = planPair(THREE, LOCAL);
    for (const side of [plan.primary, plan.secondary]) {
      expect(plumbedNics(config(side.xml).colo?.objects ?? [])).toBe(3);
    }
    expect(plumbedNics([])).toBe(1);
    expect(plumbedNics(["colo-compare,id=comp0", "colo-compare,id=comp0-nic2"])).toBe(1);
  });
});

describe("planPair: more than one NIC", () => {
  const plan = planPair(THREE, LOCAL);
  const one = planPair(plain(tap("bridge", MAC0, "virtio")), LOCAL);
  const p = DEFAULT_BASE_PORT;

  it("gives NIC 0 the one-NIC plumbing, and each other NIC the same with its own ids, netdev and ports", () => {
    const first = args(one.primary.xml);
    expect(args(plan.primary.xml).slice(0, first.length)).toEqual(first);
    expect(args(plan.primary.xml).slice(first.length, first.length + 20)).toEqual([
      "-chardev",
      `socket,id=mirror0-nic1,host=127.0.0.1,port=${p + 6},server=on,wait=off`,
      "-chardev",
      `socket,id=compare1-nic1,host=127.0.0.1,port=${p + 7},server=on,wait=on`,
      "-chardev",
      `socket,id=compare0-nic1,host=127.0.0.1,port=${p + 8},server=on,wait=off`,
      "-chardev",
      `socket,id=compare0-0-nic1,host=127.0.0.1,port=${p + 8}`,
      "-chardev",
      `socket,id=compare_out-nic1,host=127.0.0.1,port=${p + 9},server=on,wait=off`,
      "-chardev",
      `socket,id=compare_out0-nic1,host=127.0.0.1,port=${p + 9}`,
      "-object",
      "filter-mirror,id=m0-nic1,netdev=hostnet1,queue=tx,outdev=mirror0-nic1",
      "-object",
      "filter-redirector,id=redire0-nic1,netdev=hostnet1,queue=rx,indev=compare_out-nic1",
      "-object",
      "filter-redirector,id=redire1-nic1,netdev=hostnet1,queue=rx,outdev=compare0-nic1",
      "-object",
      "colo-compare,id=comp0-nic1,primary_in=compare0-0-nic1,secondary_in=compare1-nic1,outdev=compare_out0-nic1,iothread=iothread1",
    ]);
    const secondary = args(plan.secondary.xml);
    const firstSecondary = args(one.secondary.xml).slice(0, -2);
    expect(secondary.slice(0, firstSecondary.length)).toEqual(firstSecondary);
    expect(secondary.slice(firstSecondary.length, firstSecondary.length + 10)).toEqual([
      "-chardev",
      `socket,id=red0-nic1,host=127.0.0.1,port=${p + 6},reconnect=1`,
      "-chardev",
      `socket,id=red1-nic1,host=127.0.0.1,port=${p + 7},reconnect=1`,
      "-object",
      "filter-redirector,id=f1-nic1,netdev=hostnet1,queue=tx,indev=red0-nic1",
      "-object",
      "filter-redirector,id=f2-nic1,netdev=hostnet1,queue=rx,outdev=red1-nic1",
      "-object",
      "filter-rewriter,id=rew0-nic1,netdev=hostnet1,queue=all",
    ]);
    // One -incoming and one IOThread for the pair; NIC 2 on its alias's netdev, vnet headers on.
    expect(secondary.slice(-2)).toEqual(["-incoming", `tcp:127.0.0.1:${p + 4}`]);
    expect(secondary.filter((a) => a === "-incoming")).toHaveLength(1);
    expect(args(plan.primary.xml).filter((a) => a.startsWith("iothread,"))).toEqual([
      "iothread,id=iothread1",
    ]);
    expect(args(plan.primary.xml)).toContain(
      "filter-mirror,id=m0-nic2,netdev=hostua-lan,vnet_hdr_support=on,queue=tx,outdev=mirror0-nic2",
    );
    expect(args(plan.secondary.xml)).toContain(
      "filter-rewriter,id=rew0-nic2,netdev=hostua-lan,vnet_hdr_support=on,queue=all",
    );
  });

  it("names the netdevs as libvirt does: a user alias, or net0, net1, ... counting NICs without one", () => {
    const user = "<interface type='user'/>";
    const aliased = "<interface type='user'><alias name='ua-a'/></interface>";
    const netdevs = (xml: string) =>
      args(xml).flatMap((a) =>
        a.startsWith("filter-mirror,") ? [/netdev=([^,]+)/.exec(a)?.[1]] : [],
      );
    expect(netdevs(planPair(plain(aliased + user + user), LOCAL).primary.xml)).toEqual([
      "hostua-a",
      "hostnet0",
      "hostnet1",
    ]);
  });

  it("gives each NIC after the first four ports after the sixth (NBD's), from the base port", () => {
    expect(plan.ports).toEqual({
      mirror: p,
      compare: p + 1,
      compareIn: p + 2,
      compareOut: p + 3,
      migration: p + 4,
      moreNics: [
        { mirror: p + 6, compare: p + 7, compareIn: p + 8, compareOut: p + 9 },
        { mirror: p + 10, compare: p + 11, compareIn: p + 12, compareOut: p + 13 },
      ],
    });
    expect(one.ports.moreNics).toBeUndefined();
    // The metadata keeps where replication goes, and every NIC's ports (re-protection's).
    const meta = config(plan.primary.xml).metadata;
    expect(meta?.ok && meta.value.ports).toEqual({
      migration: p + 4,
      nics: [
        { mirror: p, compare: p + 1, compareIn: p + 2, compareOut: p + 3 },
        ...(plan.ports.moreNics ?? []),
      ],
    });
  });

  it("turns vhost-net off on each virtio tap NIC, on both sides, warning of each; pair remove turns it back", () => {
    for (const side of [plan.primary, plan.secondary]) {
      expect(config(side.xml).nics.map((n) => n.driver)).toEqual(["qemu", undefined, "qemu"]);
    }
    expect(plan.warnings.filter((w) => w.startsWith("vhost-net is turned off"))).toEqual([
      expect.stringContaining(MAC0),
      expect.stringContaining(MAC2),
    ]);
    const unpaired = config(planUnpair(plan.primary.xml, "qemu:///system").plainXml);
    expect(unpaired.nics).toEqual(config(THREE).nics);
    expect(unpaired.qemuArgs).toEqual([]);
  });

  it("names each NIC in its problems, by position and MAC address", () => {
    const found = problems(
      plain(
        tap("bridge", MAC0, "virtio") +
          `<interface type='direct'><mac address='${MAC1}'/></interface>` +
          "<interface type='network'><source network='default'/></interface>",
      ),
    );
    expect(found).toEqual([
      expect.stringMatching(
        new RegExp(`^NIC 1 \\(${MAC1}\\): <interface type='direct'> is not supported: .*macvtap`),
      ),
      "NIC 2: <interface type='network'> has no <mac address>: both sides must use one MAC address, so give it one",
    ]);
  });

  it("takes the ports given for every NIC, and refuses too few, too many, clashes and bad ones", () => {
    const nicPorts = (first: number): NicPorts => ({
      mirror: first,
      compare: first + 1,
      compareIn: first + 2,
      compareOut: first + 3,
    });
    const given: PairPorts = {
      ...nicPorts(20_000),
      migration: 20_004,
      moreNics: [nicPorts(30_000), nicPorts(40_000)],
    };
    expect(planPair(THREE, { ...LOCAL, ports: given }).ports).toEqual(given);
    const [nic1 = nicPorts(0)] = given.moreNics ?? [];
    expect(problems(THREE, { ports: { ...given, moreNics: [nic1] } })).toEqual([
      "the domain has 3 NICs, but the ports given are for 2 NICs: each NIC needs its own four (mirror, compare, compareIn, compareOut)",
    ]);
    expect(problems(plain(tap("bridge", MAC0, "virtio")), { ports: given })).toEqual([
      "the domain has 1 NIC, but the ports given are for 3 NICs: each NIC needs its own four (mirror, compare, compareIn, compareOut)",
    ]);
    const clash = { ...given, moreNics: [{ ...nic1, compare: 80 }, nicPorts(20_001)] };
    expect(problems(THREE, { ports: clash })).toEqual([
      "port nic1.compare=80 is out of range: 1024..65535",
      "ports clash: compare, nic2.mirror share port 20001",
      "ports clash: compareIn, nic2.compare share port 20002",
      "ports clash: compareOut, nic2.compareIn share port 20003",
      "ports clash: migration, nic2.compareOut share port 20004",
    ]);
    expect(problems(THREE, { basePort: 65_524 })).toEqual([
      "port nic2.compareIn=65536 is out of range: 1024..65535",
      "port nic2.compareOut=65537 is out of range: 1024..65535",
    ]);
  });

  it("refuses ids of its own in <qemu:commandline> that another NIC's plumbing defines", () => {
    const own = THREE.replace(
      "<domain type='qemu'>",
      `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>`,
    ).replace(
      "</devices>",
      "</devices><qemu:commandline><qemu:arg value='-chardev'/><qemu:arg value='socket,id=red1-nic2,path=/x'/></qemu:commandline>",
    );
    expect(problems(own)).toEqual([
      expect.stringMatching(/^-chardev with id 'red1-nic2' in <qemu:commandline>: the secondary's/),
    ]);
  });

  it("never makes two channels share a port, and connects each client to its own NIC's server", () => {
    const port = fc.integer({ min: 1024, max: 65_535 });
    const pairs = fc.integer({ min: 1, max: 4 }).chain((nics) =>
      fc
        .uniqueArray(port, {
          minLength: PORT_NAMES.length + NIC_PORT_NAMES.length * (nics - 1),
          maxLength: PORT_NAMES.length + NIC_PORT_NAMES.length * (nics - 1),
        })
        .map((list) => {
          const named = <K extends string>(keys: readonly K[], at: number) =>
            Object.fromEntries(keys.map((k, i) => [k, list[at + i]])) as Record<K, number>;
          const ports: PairPorts = named(PORT_NAMES, 0);
          const moreNics = Array.from({ length: nics - 1 }, (_, k) =>
            named(NIC_PORT_NAMES, PORT_NAMES.length + NIC_PORT_NAMES.length * k),
          );
          return { nics, list, ports: nics > 1 ? { ...ports, moreNics } : ports };
        }),
    );
    fc.assert(
      fc.property(pairs, ({ nics, list, ports }) => {
        const xml = plain(
          MACS.slice(0, nics)
            .map((m) => tap("bridge", m, "virtio"))
            .join(""),
        );
        const plan = planPair(xml, { ...LOCAL, ports });
        const listeners = new Map<number, string>();
        const connects = new Map<string, number>();
        for (const side of [plan.primary.xml, plan.secondary.xml]) {
          const all = args(side);
          for (const [i, arg] of all.entries()) {
            const chardev = /^socket,id=([^,]+),host=[^,]+,port=(\d+)(,server=on)?/.exec(arg);
            if (all[i - 1] === "-incoming") {
              const at = Number(arg.split(":").at(-1));
              expect(listeners.has(at)).toBe(false);
              listeners.set(at, "incoming");
            } else if (chardev?.[3]) {
              expect(listeners.has(Number(chardev[2]))).toBe(false);
              listeners.set(Number(chardev[2]), chardev[1] as string);
            } else if (chardev) connects.set(chardev[1] as string, Number(chardev[2]));
          }
        }
        expect([...listeners.keys()].sort()).toEqual([...list].sort());
        const server = (id: string) => listeners.get(connects.get(id) ?? -1);
        for (const { primaryChardevs: c, secondaryChardevs: s } of allNicIds(nics)) {
          expect(server(s.mirror)).toBe(c.mirror);
          expect(server(s.compare)).toBe(c.compare);
          expect(server(c.compareInClient)).toBe(c.compareIn);
          expect(server(c.compareOutClient)).toBe(c.compareOut);
        }
        expect(listeners.get(ports.migration)).toBe("incoming");
      }),
      { numRuns: 200 },
    );
  });
});
