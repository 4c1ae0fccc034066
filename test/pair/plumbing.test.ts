import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { parseDomainXml, QEMU_NS, readDomainConfig } from "../../src/libvirt/xml/domain.js";
import { parseXml } from "../../src/libvirt/xml/tree.js";
import {
  DEFAULT_BASE_PORT,
  PairError,
  type PairPorts,
  PORT_NAMES,
  planPair,
  secondaryMemoryProblem,
} from "../../src/pair/plumbing.js";
import { config, LOCAL, plain, problems, UUID } from "./plan.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/xml/${name}.xml`, import.meta.url), "utf8");

/** The lab's primary (web1-primary.xml) as it was before the pair: no plumbing, no metadata. */
const WEB1 = fixture("web1-primary")
  .replace(/ xmlns:qemu='[^']*'/, "")
  .replace(/\n {2}<metadata>[\s\S]*<\/metadata>/, "")
  .replace(/\n {2}<qemu:commandline>[\s\S]*<\/qemu:commandline>/, "")
  .replace("<name>web1-primary</name>", "<name>web1</name>");

/** The ports web1's fixtures were made with: A, B, C, D and the -incoming port. */
const LAB_PORTS: PairPorts = {
  mirror: 9003,
  compare: 9004,
  compareIn: 9001,
  compareOut: 9005,
  migration: 9998,
};
const { migration: _, ...LAB_NIC_PORTS } = LAB_PORTS;
const USER_NIC = "<interface type='user'><model type='e1000'/></interface>";

describe("planPair: the recipe", () => {
  const plan = planPair(WEB1, {
    ...LOCAL,
    secondaryName: "web1-secondary",
    ports: LAB_PORTS,
  });

  it("gives the primary colo-lab's chardevs and objects, exactly, on netdev hostnet0", () => {
    expect(config(plan.primary.xml).qemuArgs).toEqual([
      "-chardev",
      "socket,id=mirror0,host=127.0.0.1,port=9003,server=on,wait=off",
      "-chardev",
      "socket,id=compare1,host=127.0.0.1,port=9004,server=on,wait=on",
      "-chardev",
      "socket,id=compare0,host=127.0.0.1,port=9001,server=on,wait=off",
      "-chardev",
      "socket,id=compare0-0,host=127.0.0.1,port=9001",
      "-chardev",
      "socket,id=compare_out,host=127.0.0.1,port=9005,server=on,wait=off",
      "-chardev",
      "socket,id=compare_out0,host=127.0.0.1,port=9005",
      "-object",
      "filter-mirror,id=m0,netdev=hostnet0,queue=tx,outdev=mirror0",
      "-object",
      "filter-redirector,id=redire0,netdev=hostnet0,queue=rx,indev=compare_out",
      "-object",
      "filter-redirector,id=redire1,netdev=hostnet0,queue=rx,outdev=compare0",
      "-object",
      "iothread,id=iothread1",
      "-object",
      "colo-compare,id=comp0,primary_in=compare0-0,secondary_in=compare1,outdev=compare_out0,iothread=iothread1",
    ]);
  });

  it("gives the secondary colo-lab's chardevs, objects and -incoming, exactly", () => {
    expect(config(plan.secondary.xml).qemuArgs).toEqual([
      "-chardev",
      "socket,id=red0,host=127.0.0.1,port=9003,reconnect=1",
      "-chardev",
      "socket,id=red1,host=127.0.0.1,port=9004,reconnect=1",
      "-object",
      "filter-redirector,id=f1,netdev=hostnet0,queue=tx,indev=red0",
      "-object",
      "filter-redirector,id=f2,netdev=hostnet0,queue=rx,outdev=red1",
      "-object",
      "filter-rewriter,id=rew0,netdev=hostnet0,queue=all",
      "-incoming",
      "tcp:127.0.0.1:9998",
    ]);
  });

  it("is what the lab's own pair has (web1-primary.xml, web1-secondary.xml)", () => {
    for (const side of ["primary", "secondary"] as const) {
      expect(config(plan[side].xml).qemuArgs).toEqual(config(fixture(`web1-${side}`)).qemuArgs);
    }
  });

  it("keeps the plain domain as the primary (name, UUID); the secondary gets a new UUID", () => {
    expect(plan.primary.name).toBe("web1");
    expect(parseDomainXml(plan.primary.xml)).toMatchObject({ name: "web1", uuid: UUID });
    expect(plan.secondary.name).toBe("web1-secondary");
    expect(config(plan.secondary.xml)).toMatchObject({ name: "web1-secondary", uuid: undefined });
  });

  it("declares xmlns:qemu on <domain>, and changes nothing else of the domain", () => {
    for (const side of [plan.primary, plan.secondary]) {
      expect(side.xml).toMatch(new RegExp(`^<domain type='qemu' xmlns:qemu='${QEMU_NS}'>\n`));
      const rest = (xml: string) =>
        parseXml(xml)
          .children.filter((c) => !["name", "uuid", "metadata", "commandline"].includes(c.name))
          .map((c) => c.path);
      expect(rest(side.xml)).toEqual(rest(WEB1));
      // Same devices, same MAC address, same PCI slots: the secondary is the primary's twin.
      const devices = (xml: string) =>
        xml.slice(xml.indexOf("<devices>"), xml.indexOf("</devices>"));
      expect(devices(side.xml).replace(/\s+/g, "")).toBe(devices(WEB1).replace(/\s+/g, ""));
    }
  });

  it("writes metadata on both sides, each peer pointing at the other", () => {
    const primary = parseDomainXml(plan.primary.xml);
    expect(primary.colo?.role).toBe("primary");
    expect(primary.metadata).toEqual({
      ok: true,
      value: {
        role: "primary",
        peer: { uri: "qemu:///system", domain: "web1-secondary" },
        protect: false,
        ports: { migration: 9998, nics: [LAB_NIC_PORTS] },
        params: DEFAULT_PARAMS,
      },
    });
    // The secondary has no UUID until libvirt gives it one: read it without that check.
    const secondary = config(plan.secondary.xml);
    expect(secondary.colo).toEqual({
      role: "secondary",
      objects: ["filter-redirector,id=f1", "filter-redirector,id=f2", "filter-rewriter,id=rew0"],
      incoming: "tcp:127.0.0.1:9998",
      disks: 0,
      images: [],
      diskImages: [],
    });
    expect(secondary.metadata).toEqual({
      ok: true,
      value: {
        role: "secondary",
        peer: { uri: "qemu:///system", domain: "web1" },
        protect: false,
        ports: { migration: 9998, nics: [LAB_NIC_PORTS] },
        params: DEFAULT_PARAMS,
      },
    });
  });

  it("warns that the primary's start waits for the secondary, and about TCG before QEMU 9.0", () => {
    expect(plan.warnings).toEqual([
      expect.stringMatching(
        /^starting 'web1' waits until 'web1-secondary' has connected .*wait=on/,
      ),
      expect.stringMatching(/^'web1' runs under TCG/),
    ]);
    const kvm = planPair(WEB1.replace("type='qemu'", "type='kvm'"), LOCAL);
    expect(kvm.warnings).toHaveLength(1);
    const qemu9 = planPair(WEB1, { ...LOCAL, qemuVersion: { major: 9, minor: 0 } });
    expect(qemu9.warnings).toHaveLength(1);
  });

  it("accepts a domain not defined yet (no UUID), as the lab writes it", () => {
    const fresh = planPair(WEB1.replace(/<uuid>[^<]*<\/uuid>/, ""), LOCAL);
    expect(config(fresh.primary.xml).uuid).toBeUndefined();
    expect(config(fresh.primary.xml).colo?.role).toBe("primary");
  });
});

describe("planPair: choices", () => {
  const argsOf = (xml: string) => config(xml).qemuArgs.join(" ");

  it("defaults the ports to a base port and the next four, in PORT_NAMES order", () => {
    expect(planPair(WEB1, LOCAL).ports).toEqual({
      mirror: DEFAULT_BASE_PORT,
      compare: DEFAULT_BASE_PORT + 1,
      compareIn: DEFAULT_BASE_PORT + 2,
      compareOut: DEFAULT_BASE_PORT + 3,
      migration: DEFAULT_BASE_PORT + 4,
    });
    const plan = planPair(WEB1, { ...LOCAL, basePort: 20_000 });
    expect(PORT_NAMES.map((n) => plan.ports[n])).toEqual([20_000, 20_001, 20_002, 20_003, 20_004]);
    expect(argsOf(plan.secondary.xml)).toContain("-incoming tcp:127.0.0.1:20004");
  });

  it("binds the servers the secondary reaches to the address; colo-compare's own to loopback", () => {
    const plan = planPair(WEB1, {
      ...LOCAL,
      address: "192.0.2.10",
      ports: LAB_PORTS,
    });
    const primary = argsOf(plan.primary.xml);
    expect(primary).toContain("socket,id=mirror0,host=192.0.2.10,port=9003,server=on,wait=off");
    expect(primary).toContain("socket,id=compare1,host=192.0.2.10,port=9004,server=on,wait=on");
    expect(primary).toContain("socket,id=compare0,host=127.0.0.1,port=9001,server=on");
    expect(primary).toContain("socket,id=compare_out0,host=127.0.0.1,port=9005 ");
    const secondary = argsOf(plan.secondary.xml);
    expect(secondary).toContain("socket,id=red0,host=192.0.2.10,port=9003,reconnect=1");
    // One host: the secondary listens on loopback, where the primary's agent sends the stream.
    expect(secondary).toContain("-incoming tcp:127.0.0.1:9998");
  });

  it("across hosts: listens where the stream is sent, else on every address, and warns about loopback and URIs", () => {
    const remote = { secondaryUri: "qemu+ssh://root@host2/system" };
    const plan = planPair(WEB1, { ...remote, ports: LAB_PORTS });
    expect(argsOf(plan.secondary.xml)).toContain("-incoming tcp:0.0.0.0:9998");
    expect(plan.warnings.join("\n")).toMatch(
      /on host2, but it reaches the primary at 127\.0\.0\.1/,
    );
    expect(plan.warnings.join("\n")).toMatch(/peer URI qemu:\/\/\/system names host2 itself/);
    expect(plan.warnings.join("\n")).toMatch(/every address of host2 \(port 9998\)/);
    const told = planPair(WEB1, {
      ...remote,
      primaryUri: "qemu+ssh://root@host1/system",
      address: "host1.example.org",
      incomingAddress: "2001:db8::2",
      ports: LAB_PORTS,
    });
    expect(argsOf(told.secondary.xml)).toContain("-incoming tcp:[2001:db8::2]:9998");
    expect(argsOf(told.secondary.xml)).toContain("socket,id=red1,host=host1.example.org,port=9004");
    expect(told.warnings).toHaveLength(2);
    // Where the primary sends the stream (peer.ts) is not where the secondary listens: said.
    const elsewhere = planPair(WEB1, {
      ...remote,
      primaryUri: "qemu+ssh://root@host1/system",
      address: "host1.example.org",
      incomingAddress: "10.1.0.2",
      replicationHost: "host2",
      ports: LAB_PORTS,
    });
    expect(elsewhere.warnings.join("\n")).toContain(
      "listens for the replication stream on 10.1.0.2, but the primary sends it to host2: set 'address = 10.1.0.2' for host2 in /etc/colo-hybrid/hosts.conf",
    );
    // Untold, it listens where the primary sends the stream.
    const where = planPair(WEB1, { ...remote, replicationHost: "10.1.0.2", ports: LAB_PORTS });
    expect(argsOf(where.secondary.xml)).toContain("-incoming tcp:10.1.0.2:9998");
    expect(where.warnings.join("\n")).not.toMatch(/every address of host2/);
    expect(
      planPair(WEB1, {
        ...remote,
        incomingAddress: "10.1.0.2",
        replicationHost: "10.1.0.2",
      }).warnings.join("\n"),
    ).not.toContain("sends it to");
    expect(config(told.secondary.xml).metadata).toMatchObject({
      value: { peer: { uri: "qemu+ssh://root@host1/system", domain: "web1" } },
    });
    expect(parseDomainXml(told.primary.xml).metadata).toMatchObject({
      value: { peer: { uri: "qemu+ssh://root@host2/system", domain: "web1-secondary" } },
    });
  });

  it("writes reconnect-ms from QEMU 9.2 on, reconnect before; warns about QEMU 10.0", () => {
    const at = (major: number, minor: number) =>
      planPair(WEB1, { ...LOCAL, qemuVersion: { major, minor } });
    expect(argsOf(at(9, 1).secondary.xml)).toContain(",reconnect=1 ");
    expect(argsOf(at(9, 2).secondary.xml)).toContain(
      "socket,id=red0,host=127.0.0.1,port=9000,reconnect-ms=1000",
    );
    expect(argsOf(at(9, 2).secondary.xml)).not.toContain("reconnect=1");
    expect(at(10, 0).warnings.join("\n")).toMatch(/QEMU 10\.0 never enters COLO/);
  });

  it("stores the period and the parameters in both domains' metadata", () => {
    const plan = planPair(WEB1, {
      ...LOCAL,
      period: 5000,
      params: { "passive-count": "7", variant: "seed" },
    });
    const params = { ...DEFAULT_PARAMS, coloPeriod: 5000, passiveCount: 7, variant: "seed" };
    expect(parseDomainXml(plan.primary.xml).metadata).toMatchObject({ value: { params } });
    expect(config(plan.secondary.xml).metadata).toMatchObject({ value: { params } });
  });

  it("keeps the domain's own QEMU arguments and environment, and other tools' metadata", () => {
    const xml = plain(USER_NIC, "qemu", ` xmlns:qemu='${QEMU_NS}'`).replace(
      "</domain>",
      "<metadata><x:y xmlns:x='urn:x'/></metadata><qemu:commandline><qemu:arg value='-no-hpet'/><qemu:env name='A' value='1'/></qemu:commandline></domain>",
    );
    const plan = planPair(xml, LOCAL);
    for (const side of [plan.primary.xml, plan.secondary.xml]) {
      expect(config(side).qemuArgs.slice(0, 2)).toEqual(["-no-hpet", "-chardev"]);
      expect(side).toContain("<qemu:env name='A' value='1'/>");
      expect(side).toContain("<x:y xmlns:x='urn:x'/>");
    }
  });

  it("names the netdev after a user alias, as libvirt does", () => {
    const nic = "<interface type='user'><alias name='ua-net'/></interface>";
    expect(argsOf(planPair(plain(nic), LOCAL).primary.xml)).toContain("netdev=hostua-net,");
  });

  it("makes a renamed primary a new domain, and says the plain one stays", () => {
    const plan = planPair(WEB1, { ...LOCAL, primaryName: "web1-a" });
    expect(config(plan.primary.xml)).toMatchObject({ name: "web1-a", uuid: undefined });
    expect(plan.secondary.name).toBe("web1-secondary");
    expect(plan.warnings.join("\n")).toMatch(/'web1-a' is a new domain .*'web1' stays/);
  });

  it("replaces colo-hybrid metadata the domain had already, and says so", () => {
    const had = fixture("web2-foreign-metadata").replace("<devices>", `<devices>${USER_NIC}`);
    const plan = planPair(had, LOCAL);
    expect(plan.warnings.join("\n")).toMatch(/'web2' had colo-hybrid metadata already/);
    expect(parseDomainXml(plan.primary.xml).metadata).toMatchObject({
      ok: true,
      value: { role: "primary" },
    });
  });
});

describe("planPair: tap NICs (bridge, network)", () => {
  const MAC = "52:54:00:12:34:56";
  const tap = (type: string, model: string, driver = "") =>
    plain(
      `<interface type='${type}'><mac address='${MAC}'/><source ${type}='br0'/>` +
        `<model type='${model}'/>${driver}</interface>`,
    );
  const objects = (xml: string) =>
    config(xml).qemuArgs.filter((_, i, all) => all[i - 1] === "-object");
  const nic = (xml: string) => readDomainConfig(parseXml(xml)).nics;

  it("sets vnet_hdr_support on every filter and colo-compare of a virtio NIC, and turns vhost-net off on both sides", () => {
    const plan = planPair(tap("bridge", "virtio"), LOCAL);
    for (const [side, filters] of [
      [plan.primary, 4],
      [plan.secondary, 3],
    ] as const) {
      const ours = objects(side.xml).filter((o) => !o.startsWith("iothread,"));
      expect(ours).toHaveLength(filters);
      for (const o of ours) expect(o).toMatch(/,vnet_hdr_support=on(,|$)/);
      expect(nic(side.xml)).toEqual([
        {
          type: "bridge",
          alias: undefined,
          model: "virtio",
          driver: "qemu",
          mac: MAC,
          source: "br0",
        },
      ]);
    }
    expect(plan.warnings).toContainEqual(
      `vhost-net is turned off on the NIC ${MAC} (<driver name='qemu'/>): it moves packets in the host's kernel, past the COLO filters that copy and compare them; pair remove turns it back`,
    );
  });

  it("keeps the NIC's other driver settings, and changes nothing when vhost-net is off already", () => {
    const queues = planPair(tap("network", "virtio", "<driver name='vhost' queues='4'/>"), LOCAL);
    expect(queues.primary.xml).toContain("<driver name='qemu' queues='4'/>");
    const off = planPair(tap("network", "virtio", "<driver name='qemu'/>"), LOCAL);
    expect(off.warnings.filter((w) => w.includes("vhost"))).toEqual([]);
    const meta = readDomainConfig(parseXml(off.primary.xml)).metadata;
    expect(meta?.ok && meta.value.original).toBeUndefined();
    expect(
      objects(off.primary.xml)
        .filter((o) => !o.startsWith("iothread"))
        .every((o) => o.includes("vnet_hdr_support=on")),
    ).toBe(true);
  });

  it("leaves an emulated NIC (e1000) on a tap as it is: no vnet header, no vhost-net", () => {
    const plan = planPair(tap("bridge", "e1000"), LOCAL);
    expect(objects(plan.primary.xml).some((o) => o.includes("vnet_hdr"))).toBe(false);
    expect(nic(plan.primary.xml)[0]?.driver).toBeUndefined();
    expect(plan.warnings.filter((w) => w.includes("vhost"))).toEqual([]);
  });
});

describe("planPair: disks (block replication)", () => {
  const DISK = `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/var/lib/libvirt/images/p,1.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/>
    <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></disk>`;
  const plan = planPair(plain(USER_NIC + DISK), { ...LOCAL, basePort: 9100 });
  const args = (xml: string) => config(xml).qemuArgs;
  const DEVICE =
    '{"driver":"virtio-blk-pci","drive":"colo-disk0","id":"colo-vda","bus":"pci.0","addr":"0x7","bootindex":1}';
  const IMAGES = "/var/lib/colo-hybrid/images/p-secondary-vda";

  it("puts the primary's disk under a quorum, at its own PCI address, its commas doubled", () => {
    expect(args(plan.primary.xml).slice(0, 4)).toEqual([
      "-drive",
      "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0.driver=qcow2,children.0.file.filename=/var/lib/libvirt/images/p,,1.qcow2",
      "-device",
      DEVICE,
    ]);
  });

  it("gives the secondary base, hidden and active images under replication, at the same address", () => {
    expect(args(plan.secondary.xml).slice(0, 8)).toEqual([
      "-drive",
      `if=none,id=colo-parent0,driver=qcow2,file.filename=${IMAGES}-base.qcow2`,
      "-drive",
      `if=none,id=colo-childs0,driver=replication,mode=secondary,top-id=colo-disk0,file.driver=qcow2,file.file.filename=${IMAGES}-active.qcow2,file.backing.driver=qcow2,file.backing.file.filename=${IMAGES}-hidden.qcow2,file.backing.backing=colo-parent0`,
      "-drive",
      "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0=colo-childs0",
      "-device",
      DEVICE,
    ]);
    expect(plan.images).toEqual(
      ["base", "active", "hidden"].map((k) => ({ path: `${IMAGES}-${k}.qcow2`, sizeOf: "vda" })),
    );
    const elsewhere = planPair(plain(USER_NIC + DISK), { ...LOCAL, imageDir: "/srv/colo" });
    expect(elsewhere.images[0]?.path).toBe("/srv/colo/p-secondary-vda-base.qcow2");
  });

  it("takes the disk out of both domains' <devices>, keeping it in the primary's metadata", () => {
    for (const side of [plan.primary, plan.secondary]) expect(config(side.xml).disks).toEqual([]);
    const meta = config(plan.primary.xml).metadata;
    expect(
      meta?.ok && config(`<domain type='qemu'><name>x</name>${meta.value.original}</domain>`).disks,
    ).toMatchObject([
      { target: "vda", source: "/var/lib/libvirt/images/p,1.qcow2", format: "qcow2" },
    ]);
  });

  it("gives a pair with disks a sixth port, for NBD, kept in both domains' metadata", () => {
    expect(plan.ports.nbd).toBe(9105);
    for (const side of [plan.primary, plan.secondary]) {
      const meta = config(side.xml).metadata;
      expect(meta?.ok && meta.value.ports).toEqual({
        migration: 9104,
        nbd: 9105,
        nics: [{ mirror: 9100, compare: 9101, compareIn: 9102, compareOut: 9103 }],
      });
    }
    expect(planPair(plain(USER_NIC), LOCAL).ports.nbd).toBeUndefined();
    expect(
      problems(plain(USER_NIC + DISK), { ports: { ...LAB_PORTS, nbd: LAB_PORTS.compare } }),
    ).toEqual([`ports clash: compare, nbd share port ${LAB_PORTS.compare}`]);
  });

  it("puts a q35 domain's disk on the root bus pcie.0", () => {
    const q35 = plain(USER_NIC + DISK).replace(
      "<memory>",
      "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><memory>",
    );
    expect(args(planPair(q35, LOCAL).primary.xml)[3]).toContain('"bus":"pcie.0","addr":"0x7"');
  });

  // The device properties libvirt 9.0 itself gives these disks (virsh domxml-to-native).
  const onController = (bus: string, unit: number) =>
    `<disk type='file' device='disk'><source file='/v/${bus}.img'/><target dev='sd${bus}' bus='${bus}'/>
      <serial>s,1</serial><address type='drive' controller='0' bus='0' target='0' unit='${unit}'/></disk>`;
  const CONTROLLERS =
    "<controller type='scsi' index='0' model='virtio-scsi'/><controller type='sata' index='0'/>";
  const withControllers = (machine: string) =>
    plain(USER_NIC + CONTROLLERS + onController("scsi", 0) + onController("sata", 1)).replace(
      "<memory>",
      `<os><type arch='x86_64' machine='${machine}'>hvm</type></os><memory>`,
    );
  const devices = (xml: string) =>
    args(xml)
      .filter((_, i, all) => all[i - 1] === "-device")
      .map((a) => JSON.parse(a));

  it("puts a SCSI disk on its virtio-scsi controller and a SATA disk on its AHCI port, as libvirt does", () => {
    const plan = planPair(withControllers("pc-i440fx-7.2"), LOCAL);
    const expected = [
      {
        driver: "scsi-hd",
        drive: "colo-disk0",
        id: "colo-sdscsi",
        bus: "scsi0.0",
        channel: 0,
        "scsi-id": 0,
        lun: 0,
        device_id: "drive-scsi0-0-0-0",
        serial: "s,1",
      },
      { driver: "ide-hd", drive: "colo-disk1", id: "colo-sdsata", bus: "sata0.1", serial: "s,1" },
    ];
    for (const side of [plan.primary, plan.secondary]) {
      expect(devices(side.xml)).toEqual(expected);
      // The controllers stay in <devices>: libvirt makes them, our devices go on them.
      expect(config(side.xml).controllers.map((c) => c.type)).toEqual(["scsi", "sata"]);
    }
    const q35 = planPair(withControllers("pc-q35-7.2"), LOCAL);
    expect(devices(q35.primary.xml)[1]).toMatchObject({ driver: "ide-hd", bus: "ide.1" });
  });
});

describe("secondaryMemoryProblem", () => {
  it("wants about twice the guest's memory free on the secondary's host", () => {
    const MiB = 2 ** 20;
    expect(secondaryMemoryProblem(256 * MiB, 512 * MiB, "host2")).toBeUndefined();
    expect(secondaryMemoryProblem(undefined, 0, "host2")).toBeUndefined();
    expect(secondaryMemoryProblem(256 * MiB, 511 * MiB, "qemu+ssh://host2/system")).toBe(
      "qemu+ssh://host2/system has 511 MiB of memory free, and a COLO secondary of this 256 MiB guest needs about 512 MiB (its memory, and the copy each checkpoint is loaded into)",
    );
  });

  it("reads the guest's memory in libvirt's units", () => {
    expect(config(plain(USER_NIC)).memoryBytes).toBe(65536 * 1024);
    expect(
      config(plain(USER_NIC).replace("<memory>65536", "<memory unit='GiB'>2")).memoryBytes,
    ).toBe(2 * 2 ** 30);
    expect(
      config(plain(USER_NIC).replace("<memory>65536", "<memory unit='MB'>500")).memoryBytes,
    ).toBe(5e8);
  });
});

describe("planPair: refusals", () => {
  it("refuses a domain without a NIC, or one whose packets pass QEMU by, naming it", () => {
    const supported = "<interface type='bridge'>, type='network' or type='user'";
    expect(problems(plain(""))).toEqual([
      `no NIC: COLO compares the two sides' network output, so the domain needs one or more ${supported}`,
    ]);
    for (const [type, why] of [
      ["direct", /macvtap NIC delivers by MAC address/],
      ["vhostuser", /moves packets between the guest and another process/],
      ["hostdev", /never pass through QEMU's filters/],
      ["mcast", /do not pass through a QEMU netdev COLO can filter/],
    ] as const) {
      const [only, ...none] = problems(plain(`<interface type='${type}'/>`));
      expect(none).toEqual([]);
      expect(only).toMatch(new RegExp(`^NIC 0: <interface type='${type}'> is not supported: `));
      expect(only).toMatch(why);
      expect(only).toMatch(new RegExp(`; use ${supported}$`));
    }
  });

  it("refuses a tap NIC without a MAC address: both sides need the same one", () => {
    expect(
      problems(plain("<interface type='network'><source network='default'/></interface>")),
    ).toEqual([
      "NIC 0: <interface type='network'> has no <mac address>: both sides must use one MAC address, so give it one",
    ]);
  });

  it("refuses disks it cannot replicate, each with its reason, all at once", () => {
    const disk = (attrs: string, inside: string) =>
      `<disk ${attrs}>${inside}<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></disk>`;
    const found = problems(
      plain(
        USER_NIC +
          disk(
            "type='block' device='lun'",
            "<source dev='/dev/sdz'/><target dev='sdz' bus='scsi'/>",
          ) +
          disk(
            "type='network' device='disk'",
            "<source protocol='rbd' name='pool/img'/><target dev='vdb' bus='virtio'/>",
          ) +
          disk(
            "type='file' device='disk'",
            "<driver name='qemu' type='vmdk'/><source file='/v/c.vmdk'/><target dev='vdc' bus='virtio'/>",
          ) +
          disk(
            "type='file' device='disk'",
            "<source file='/v/d.img'/><target dev='vdd' bus='virtio'/><readonly/>",
          ) +
          disk(
            "type='file' device='disk'",
            "<source file='/v/e.img'/><target dev='vde' bus='virtio'/><shareable/>",
          ) +
          disk(
            "type='file' device='disk'",
            "<source file='/v/f.img'/><target dev='hdf' bus='ide'/>",
          ) +
          "<disk type='file' device='disk'><source file='/v/g.img'/><target dev='vdg' bus='virtio'/></disk>" +
          "<disk type='file' device='disk'><source file='/v/h.img'/><target dev='sdh' bus='sata'/></disk>" +
          "<controller type='scsi' index='0' model='lsilogic'/>" +
          "<disk type='file' device='disk'><source file='/v/i.img'/><target dev='sdi' bus='scsi'/><address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>" +
          "<disk type='file' device='disk'><source file='/v/j.img'/><target dev='sdj' bus='sata'/><address type='drive' controller='1' bus='0' target='0' unit='0'/></disk>",
      ),
    );
    expect(found).toEqual([
      expect.stringMatching(
        /^disk sdz \(\/dev\/sdz\) cannot be replicated: a LUN passes SCSI commands/,
      ),
      expect.stringMatching(/^disk sdz .*<disk type='block'>: only file-backed images/),
      expect.stringMatching(
        /^disk vdb \(pool\/img\) cannot be replicated: a network disk is one image for both sides/,
      ),
      expect.stringMatching(/^disk vdc .*image format 'vmdk': raw and qcow2/),
      expect.stringMatching(/^disk vdd .*read-only/),
      expect.stringMatching(/^disk vde .*shared with other domains/),
      expect.stringMatching(/^disk hdf .*bus 'ide': virtio-blk, virtio-scsi and SATA disks/),
      expect.stringMatching(/^disk vdg .*no PCI address: define the domain first/),
      expect.stringMatching(/^disk sdh .*no drive address: define the domain first/),
      expect.stringMatching(
        /^disk sdi .*its SCSI controller 0 is model 'lsilogic': only virtio-scsi controllers/,
      ),
      expect.stringMatching(/^disk sdj .*the domain has no <controller type='sata' index='1'>/),
    ]);
  });

  it("leaves CD-ROMs and floppies as they are, warning that their media must be on the secondary's host", () => {
    const media =
      "<disk type='file' device='cdrom'><source file='/v/x.iso'/><target dev='sda'/><readonly/></disk>" +
      "<disk type='file' device='floppy'><target dev='fda'/></disk>";
    const plan = planPair(plain(USER_NIC + media), LOCAL);
    expect(config(plan.primary.xml).disks.map((d) => d.target)).toEqual(["sda", "fda"]);
    expect(plan.images).toEqual([]);
    expect(plan.warnings).toContainEqual(
      "the cdrom sda (/v/x.iso) is left as it is: both sides read it, so /v/x.iso must be on the secondary's host too",
    );
  });

  it("refuses a domain that already carries COLO's plumbing, either side's", () => {
    expect(problems(fixture("web1-primary"))).toEqual([
      expect.stringMatching(
        /^already a COLO domain: .*COLO primary's plumbing \(filter-mirror,id=m0, /,
      ),
    ]);
    expect(problems(fixture("web1-secondary"))).toEqual([
      expect.stringMatching(/^already a COLO domain: .*secondary's plumbing .*-incoming\)$/),
    ]);
  });

  it("refuses domain types other than qemu and kvm", () => {
    expect(problems(plain(USER_NIC, "xen"))).toEqual([
      "domain type 'xen' is not supported: COLO pairs are QEMU domains (type 'qemu' or 'kvm')",
    ]);
  });

  it("refuses ports out of range, not whole, or shared", () => {
    const ports = { ...LAB_PORTS, mirror: 80, compareIn: 9004, migration: 65_536 };
    expect(problems(WEB1, { ports })).toEqual([
      "port mirror=80 is out of range: 1024..65535",
      "port migration=65536 is out of range: 1024..65535",
      "ports clash: compare, compareIn share port 9004",
    ]);
    expect(problems(WEB1, { ports: { ...LAB_PORTS, compare: 9004.5 } })).toEqual([
      "port compare=9004.5 is out of range: 1024..65535",
    ]);
    expect(problems(WEB1, { basePort: 65_533 })).toEqual([
      "port compareOut=65536 is out of range: 1024..65535",
      "port migration=65537 is out of range: 1024..65535",
    ]);
    expect(problems(WEB1, { basePort: 20_000, ports: LAB_PORTS })).toEqual([
      "give the five ports or a base port, not both",
    ]);
  });

  it("refuses addresses that are not one, or a wildcard for the primary's", () => {
    expect(problems(WEB1, { address: "127.0.0.1,server=on" })).toEqual([
      expect.stringMatching(/^address '127\.0\.0\.1,server=on' is not allowed: not a host name/),
    ]);
    expect(problems(WEB1, { address: "0.0.0.0" })).toEqual([
      expect.stringMatching(/^address '0\.0\.0\.0' is not allowed: a wildcard/),
    ]);
    expect(problems(WEB1, { incomingAddress: "a b" })).toEqual([
      "incoming address 'a b' is not allowed: not a host name or an IP address",
    ]);
    expect(problems(WEB1, { incomingAddress: "192.0.2.10" })).toEqual([
      "incoming address '192.0.2.10' is not allowed on one host: the primary sends the replication stream to 127.0.0.1",
    ]);
    expect(planPair(WEB1, { ...LOCAL, incomingAddress: "127.0.0.2" }).secondary.xml).toContain(
      "tcp:127.0.0.2:",
    );
  });

  it("refuses bad parameters, URIs and names; one host needs two names", () => {
    expect(problems(WEB1, { period: 50 })).toEqual([
      "colo-period=50 is out of range: 100..3600000 ms",
    ]);
    expect(problems(WEB1, { params: { "passive-limit": 30_000 } })).toEqual([
      expect.stringMatching(/^colo-period=20000 must be more than passive-limit=30000/),
    ]);
    expect(problems(WEB1, { secondaryUri: "ftp://x/" })).toEqual([
      expect.stringMatching(/^the secondary's URI: uri="ftp:\/\/x\/" is not allowed \(/),
    ]);
    expect(problems(WEB1, { secondaryName: "web1" })).toEqual([
      "the primary and the secondary are both named 'web1': on one host they need two names",
    ]);
    // On two hosts, one name will do.
    const twins = planPair(WEB1, {
      secondaryName: "web1",
      secondaryUri: "qemu+tls://host2/system",
    });
    expect(twins.secondary.name).toBe("web1");
  });

  it("refuses host devices, PCI, USB, SCSI and mdev alike, naming each", () => {
    const hostdevs =
      "<hostdev mode='subsystem' type='pci' managed='yes'><source>" +
      "<address domain='0x0000' bus='0x03' slot='0x1f' function='0x7'/></source></hostdev>" +
      "<hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/><product id='0xc52b'/>" +
      "</source></hostdev>" +
      "<hostdev mode='subsystem' type='usb'><source><address bus='1' device='4'/></source></hostdev>" +
      "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>" +
      "<address bus='0' target='0' unit='1'/></source></hostdev>" +
      "<hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.5001405df3e54061'/></hostdev>" +
      "<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source>" +
      "<address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>";
    expect(problems(plain(USER_NIC + hostdevs))).toEqual([
      "host devices cannot be in a COLO pair: a <hostdev> is given to one QEMU, but the " +
        "secondary runs beside the primary, and the device's state is in the hardware, where no " +
        "checkpoint reaches it (found: <hostdev mode='subsystem' type='pci'> (0000:03:1f.7), " +
        "<hostdev mode='subsystem' type='usb'> (vendor 0x046d product 0xc52b), " +
        "<hostdev mode='subsystem' type='usb'> (bus 1 device 4), " +
        "<hostdev mode='subsystem' type='scsi'> (scsi_host0 0:0:1), " +
        "<hostdev mode='subsystem' type='scsi_host'> (naa.5001405df3e54061), " +
        "<hostdev mode='subsystem' type='mdev'> (c2177883-f1bb-47f0-914d-32a22e3a8804))",
    ]);
  });

  it("refuses shared host directories, virtiofs and 9p", () => {
    const fs =
      "<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/>" +
      "<source dir='/srv/share'/><target dir='share'/></filesystem>" +
      "<filesystem type='mount' accessmode='mapped'><source dir='/srv/9p'/>" +
      "<target dir='tag9p'/></filesystem>" +
      "<filesystem type='mount'><driver type='path' wrpolicy='immediate'/>" +
      "<source dir='/srv/p'/><target dir='p'/></filesystem>";
    expect(problems(plain(USER_NIC + fs))).toEqual([
      expect.stringMatching(
        /^shared host directories cannot be in a COLO pair: .* no checkpoint reaches it; and QEMU does not migrate them \(virtiofs never, 9p not while the guest has it mounted\) \(found: /,
      ),
    ]);
    expect(problems(plain(USER_NIC + fs))[0]).toMatch(
      /\(found: <filesystem type='mount'> virtiofs \(\/srv\/share, target 'share'\), <filesystem type='mount'> 9p \(\/srv\/9p, target 'tag9p'\), <filesystem type='mount'> 9p path \(\/srv\/p, target 'p'\)\)$/,
    );
  });

  it("refuses shared memory, peer and master alike", () => {
    const shmem =
      "<shmem name='ivshmem0'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>" +
      "<shmem name='shm1' role='master'><model type='ivshmem-doorbell'/></shmem>";
    expect(problems(plain(USER_NIC + shmem))).toEqual([
      expect.stringMatching(
        /^shared memory cannot be in a COLO pair: .*QEMU blocks migrating an ivshmem peer .* \(found: <shmem name='ivshmem0'> \(ivshmem-plain\), <shmem name='shm1' role='master'> \(ivshmem-doorbell\)\)$/,
      ),
    ]);
  });

  it("refuses a host TPM; an emulated one is fine", () => {
    const passthrough =
      "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>";
    expect(problems(plain(USER_NIC + passthrough))).toEqual([
      expect.stringMatching(
        /^a host TPM cannot be in a COLO pair: QEMU disables migration with the TPM passthrough backend .* \(found: <tpm model='tpm-tis'> passthrough \(\/dev\/tpm0\)\)$/,
      ),
    ]);
    const emulated = "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>";
    expect(planPair(plain(USER_NIC + emulated), LOCAL).primary.name).toBe("p");
  });

  it("refuses host input devices, passthrough and evdev; mouse, keyboard and tablet are fine", () => {
    const inputs =
      "<input type='passthrough' bus='virtio'><source evdev='/dev/input/event1'/></input>" +
      "<input type='evdev'><source dev='/dev/input/event2' grab='all'/></input>" +
      "<input type='tablet' bus='usb'/><input type='mouse' bus='ps2'/><input type='keyboard' bus='virtio'/>";
    expect(problems(plain(USER_NIC + inputs))).toEqual([
      expect.stringMatching(
        /^host input devices cannot be in a COLO pair: QEMU marks virtio-input-host \(type='passthrough'\) unmigratable, .* \(found: <input type='passthrough' bus='virtio'> \(\/dev\/input\/event1\), <input type='evdev'> \(\/dev\/input\/event2\)\)$/,
      ),
    ]);
  });

  it("refuses host smartcards, mode host and passthrough; host-certificates is fine", () => {
    const cards = "<smartcard mode='host'/><smartcard mode='passthrough' type='tcp'/>";
    expect(problems(plain(USER_NIC + cards))).toEqual([
      expect.stringMatching(
        /^host smartcards cannot be in a COLO pair: the card is outside QEMU .* \(found: <smartcard mode='host'>, <smartcard mode='passthrough' type='tcp'>\)$/,
      ),
    ]);
    const certificates =
      "<smartcard mode='host-certificates'><certificate>c1</certificate>" +
      "<certificate>c2</certificate><certificate>c3</certificate></smartcard>";
    expect(planPair(plain(USER_NIC + certificates), LOCAL).primary.name).toBe("p");
  });

  it("refuses 3D acceleration (virgl); video without it is fine", () => {
    const virgl =
      "<video><model type='virtio' heads='1'><acceleration accel3d='yes'/></model></video>";
    expect(problems(plain(USER_NIC + virgl))).toEqual([
      expect.stringMatching(
        /^3D acceleration cannot be in a COLO pair: QEMU blocks migration with virgl \('virgl is not yet migratable'\).* \(found: <video> virtio with accel3d='yes'\)$/,
      ),
    ]);
    const flat =
      "<video><model type='virtio' heads='1'><acceleration accel3d='no'/></model></video>";
    expect(planPair(plain(USER_NIC + flat), LOCAL).primary.name).toBe("p");
  });

  it("refuses virtio-crypto", () => {
    const crypto =
      "<crypto model='virtio' type='qemu'><backend model='builtin' queues='1'/></crypto>";
    expect(problems(plain(USER_NIC + crypto))).toEqual([
      "virtio-crypto cannot be in a COLO pair: QEMU marks the device unmigratable " +
        "(found: <crypto model='virtio' type='qemu'> (builtin))",
    ]);
  });

  it("refuses a confidential guest (<launchSecurity>)", () => {
    for (const type of ["sev", "s390-pv"]) {
      const xml = plain(USER_NIC).replace(
        "</domain>",
        `<launchSecurity type='${type}'><policy>0x0003</policy></launchSecurity></domain>`,
      );
      expect(problems(xml)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^a confidential guest cannot be in a COLO pair: .*QEMU blocks its migration .* \\(found: <launchSecurity type='${type}'>\\)$`,
          ),
        ),
      ]);
    }
  });

  it("refuses Hyper-V passthrough; listed enlightenments are fine", () => {
    const hyperv = (inside: string) =>
      plain(USER_NIC).replace("<devices>", `<features>${inside}</features><devices>`);
    expect(problems(hyperv("<hyperv mode='passthrough'/>"))).toEqual([
      expect.stringMatching(
        /^Hyper-V passthrough cannot be in a COLO pair: QEMU blocks migration with hv-passthrough .* \(found: <hyperv mode='passthrough'>\)$/,
      ),
    ]);
    const custom = hyperv("<hyperv mode='custom'><relaxed state='on'/></hyperv>");
    expect(planPair(custom, LOCAL).primary.name).toBe("p");
  });

  it("refuses an invariant TSC without a TSC frequency; with one it is fine", () => {
    const invtsc = (clock: string, policy = "require") =>
      plain(USER_NIC).replace(
        "<devices>",
        `<cpu mode='host-model'><feature policy='${policy}' name='invtsc'/></cpu>${clock}<devices>`,
      );
    expect(problems(invtsc("<clock offset='utc'/>"))).toEqual([
      expect.stringMatching(
        /^an invariant TSC cannot be in a COLO pair without a TSC frequency: .* \(found: <feature policy='require' name='invtsc'>\)$/,
      ),
    ]);
    expect(problems(invtsc("", "force"))).toEqual([
      expect.stringContaining("(found: <feature policy='force' name='invtsc'>)"),
    ]);
    const tsc = "<clock offset='utc'><timer name='tsc' frequency='3504000000'/></clock>";
    expect(planPair(invtsc(tsc), LOCAL).primary.name).toBe("p");
    expect(planPair(invtsc("", "disable"), LOCAL).primary.name).toBe("p");
  });

  it("refuses ids in <qemu:commandline> that the plumbing defines, of the same kind", () => {
    const args = [
      ["-chardev", "socket,id=mirror0,path=/run/m.sock,server=on,wait=off"],
      ["--chardev", "pty,id=x,id=red1"],
      ["-object", '{"qom-type":"iothread","id":"comp0"}'],
      ["-object", "filter-dump,id=f1,netdev=hostnet0,file=/tmp/d"],
      // Other kinds keep their own ids: QEMU starts with these.
      ["-device", "virtio-rng-pci,id=m0"],
      ["-netdev", '{"type":"user","id":"compare1"}'],
      ["-blockdev", "driver=null-co,node-name=red0"],
    ];
    const xml = plain(USER_NIC, "qemu", ` xmlns:qemu='${QEMU_NS}'`).replace(
      "</domain>",
      `<qemu:commandline>${args
        .flat()
        .map((a) => `<qemu:arg value='${a}'/>`)
        .join("")}</qemu:commandline></domain>`,
    );
    expect(problems(xml)).toEqual([
      "-chardev with id 'mirror0' in <qemu:commandline>: the primary's COLO plumbing defines " +
        "a chardev 'mirror0' too, and QEMU refuses to start with two chardevs of one id; rename it",
      "-object with id 'comp0' in <qemu:commandline>: the primary's COLO plumbing defines " +
        "an object 'comp0' too, and QEMU refuses to start with two objects of one id; rename it",
      "-chardev with id 'red1' in <qemu:commandline>: the secondary's COLO plumbing defines " +
        "a chardev 'red1' too, and QEMU refuses to start with two chardevs of one id; rename it",
      "-object with id 'f1' in <qemu:commandline>: the secondary's COLO plumbing defines " +
        "an object 'f1' too, and QEMU refuses to start with two objects of one id; rename it",
    ]);
  });

  it("refuses a <qemu:commandline> that turns the return-path capability on", () => {
    const withGlobal = (value: string) =>
      plain(USER_NIC, "qemu", ` xmlns:qemu='${QEMU_NS}'`).replace(
        "</domain>",
        `<qemu:commandline><qemu:arg value='-global'/><qemu:arg value='${value}'/></qemu:commandline></domain>`,
      );
    expect(problems(withGlobal("migration.x-return-path=on"))).toEqual([
      "its <qemu:commandline> sets -global migration.x-return-path=on: COLO sends its checkpoint " +
        "messages back over the migration stream itself, and the return-path thread would read " +
        "them away; remove it",
    ]);
    expect(() => planPair(withGlobal("migration.x-return-path=off"), LOCAL)).not.toThrow();
  });

  it("refuses libvirt's IOThread 1, whose object id is colo-compare's IOThread's", () => {
    const threads = (xml: string) => plain(USER_NIC).replace("<devices>", `${xml}<devices>`);
    expect(problems(threads("<iothreads>2</iothreads>"))).toEqual([
      "<iothreads>2</iothreads> gives the domain IOThread 1, which libvirt defines as object " +
        "'iothread1', an id the primary's COLO plumbing defines (colo-compare's IOThread): QEMU " +
        "refuses to start with two objects of one id",
    ]);
    const named = "<iothreads>1</iothreads><iothreadids><iothread id='1'/></iothreadids>";
    expect(problems(threads(named))).toEqual([
      expect.stringMatching(/^<iothread id='1'> gives the domain IOThread 1, /),
    ]);
    // libvirt numbers the others from the lowest free number: 1 when no id names it.
    const filled = "<iothreads>2</iothreads><iothreadids><iothread id='2'/></iothreadids>";
    expect(problems(threads(filled))).toEqual([
      expect.stringMatching(/^<iothreads>2<\/iothreads> gives the domain IOThread 1, /),
    ]);
    const other = "<iothreads>1</iothreads><iothreadids><iothread id='2'/></iothreadids>";
    expect(planPair(threads(other), LOCAL).primary.name).toBe("p");
  });

  it("refuses an -incoming of the domain's own (no COLO plumbing without it)", () => {
    const xml = plain(USER_NIC, "qemu", ` xmlns:qemu='${QEMU_NS}'`).replace(
      "</domain>",
      "<qemu:commandline><qemu:arg value='-incoming'/><qemu:arg value='defer'/></qemu:commandline></domain>",
    );
    expect(problems(xml)).toEqual([
      "-incoming 'defer' in <qemu:commandline>: the primary would wait for an incoming " +
        "migration instead of starting its guest, and the secondary would have two, its own " +
        "and the COLO plumbing's",
    ]);
  });

  it("cannot clash through a user alias: libvirt's ids from one contain 'ua-', ours never", () => {
    const plan = planPair(WEB1, LOCAL);
    const added = [plan.primary.xml, plan.secondary.xml].flatMap((xml) => config(xml).qemuIds);
    expect(added.map((d) => d.kind).sort()).toEqual([
      ...Array(8).fill("chardev"),
      ...Array(8).fill("object"),
    ]);
    for (const { id } of added) expect(id).not.toContain("ua-");
    const aliased =
      "<interface type='user'><alias name='ua-mirror0'/></interface>" +
      "<serial type='pty'><alias name='ua-m0'/></serial>" +
      "<rng model='virtio'><alias name='ua-comp0'/><backend model='random'>/dev/urandom</backend></rng>";
    expect(planPair(plain(aliased), LOCAL).primary.name).toBe("p");
  });

  it("still accepts what COLO carries: graphics, serial, vsock, sound, rng, watchdog...", () => {
    const devices =
      USER_NIC +
      "<controller type='usb' index='0' model='qemu-xhci'/><controller type='pci' index='0' model='pci-root'/>" +
      "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>" +
      "<graphics type='vnc' port='-1' autoport='yes'/><graphics type='spice' autoport='yes'/>" +
      "<serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial'/></console>" +
      "<video><model type='qxl'/></video><sound model='ich9'/><audio id='1' type='none'/>" +
      "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>" +
      "<watchdog model='i6300esb' action='reset'/><memballoon model='virtio'/>" +
      "<vsock model='virtio'><cid auto='no' address='3'/></vsock>" +
      "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>" +
      "<input type='tablet' bus='usb'/><panic model='isa'/>";
    expect(planPair(plain(devices, "kvm"), LOCAL).primary.name).toBe("p");
  });

  it("lists every reason at once: a domain of many problems (colo-blockers.xml)", () => {
    const reasons = problems(fixture("colo-blockers"));
    expect(reasons.map((r) => r.slice(0, r.indexOf(":")))).toEqual([
      "host devices cannot be in a COLO pair",
      "shared host directories cannot be in a COLO pair",
      "shared memory cannot be in a COLO pair",
      "a host TPM cannot be in a COLO pair",
      "host input devices cannot be in a COLO pair",
      "host smartcards cannot be in a COLO pair",
      "3D acceleration cannot be in a COLO pair",
      "virtio-crypto cannot be in a COLO pair",
      "a confidential guest cannot be in a COLO pair",
      "Hyper-V passthrough cannot be in a COLO pair",
      "an invariant TSC cannot be in a COLO pair without a TSC frequency",
      "-chardev with id 'mirror0' in <qemu",
      "<iothreads>2</iothreads> gives the domain IOThread 1, which libvirt defines as object 'iothread1', an id the primary's COLO plumbing defines (colo-compare's IOThread)",
      "-object with id 'rew0' in <qemu",
      "-incoming 'defer' in <qemu",
    ]);
    expect(reasons[0]).toMatch(
      /\(found: .*0000:03:00\.1.*c2177883-f1bb-47f0-914d-32a22e3a8804\)\)$/,
    );
    let error: unknown;
    try {
      planPair(fixture("colo-blockers"), LOCAL);
    } catch (e) {
      error = e;
    }
    expect((error as PairError).message.split("\n").slice(1)).toEqual(
      reasons.map((p) => `  - ${p}`),
    );
  });

  it("lists every problem at once", () => {
    const disk = "<disk type='file' device='disk'><source file='/a'/><target bus='ide'/></disk>";
    let error: unknown;
    try {
      planPair(plain(disk, "xen"), { ...LOCAL, address: "0.0.0.0", period: 1, basePort: 80 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PairError);
    const e = error as PairError;
    expect(e.problems).toHaveLength(10);
    expect(e.message.split("\n")[0]).toBe("cannot make a COLO pair of 'p':");
    expect(e.message.split("\n").slice(1)).toEqual(e.problems.map((p) => `  - ${p}`));
  });
});

describe("planPair: files the two QEMUs would share", () => {
  it("gives the secondary its own console and serial logs, and says so", () => {
    const devices =
      USER_NIC +
      "<serial type='file'><source path='/var/log/lab/p.log'/></serial>" +
      "<console type='pty'><log file='/var/log/lab/console.log'/></console>";
    const plan = planPair(plain(devices), { ...LOCAL, secondaryName: "p-2nd" });
    expect(plan.primary.xml).toContain("path='/var/log/lab/p.log'");
    expect(plan.secondary.xml).toContain("path='/var/log/lab/p-2nd.log'");
    expect(plan.secondary.xml).toContain("file='/var/log/lab/console.log.secondary'");
    expect(plan.warnings).toContain(
      "the secondary logs to /var/log/lab/p-2nd.log, not /var/log/lab/p.log",
    );
  });

  it("renames only the domain's name in the file name, as a whole word, never a directory", () => {
    const named = (name: string, paths: string[]) => {
      const devices = paths.map((p) => `<serial type='file'><source path='${p}'/></serial>`);
      const xml = plain(USER_NIC + devices.join("")).replace(
        "<name>p</name>",
        `<name>${name}</name>`,
      );
      return planPair(xml, LOCAL).secondary.xml;
    };
    const lib = named("lib", ["/var/lib/libvirt/qemu/lib.log", "/var/lib/lib/libvirt-console.log"]);
    expect(lib).toContain("path='/var/lib/libvirt/qemu/lib-secondary.log'");
    expect(lib).toContain("path='/var/lib/lib/libvirt-console.log.secondary'");
    const web = named("web1", ["/srv/web1/web10.log", "/srv/log/web1-serial0.log"]);
    expect(web).toContain("path='/srv/web1/web10.log.secondary'");
    expect(web).toContain("path='/srv/log/web1-secondary-serial0.log'");
  });
});
