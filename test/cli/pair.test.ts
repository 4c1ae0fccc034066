// `colo-hybrid pair create` and `pair remove` as a user runs them, against the real libvirtd.
// The domains are defined and inspected, never started as pairs (starting pairs is test/lab's),
// and removed afterwards.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { parseDomainXml, QEMU_NS } from "../../src/libvirt/xml/domain.js";
import {
  formatMetadata,
  type HybridMetadata,
  METADATA_KEY,
  METADATA_NS,
} from "../../src/libvirt/xml/metadata.js";
import { planPair } from "../../src/pair/plumbing.js";
import { type CliRun, cli, HOST_NODE } from "../support/cli.js";
import { testDomainXml } from "../support/domains.js";
import { HOSTILE_PEER_URIS } from "../support/hostile-uris.js";
import { installHostsConf } from "../support/hosts-conf.js";
import {
  defineTestDomain,
  type Libvirtd,
  startLibvirtd,
  TEST_DOMAIN_PREFIX,
  virsh,
} from "../support/services.js";

const MINUTE = 60_000;
/** This file's domains: removed before and after, leaving other files' alone. */
const PREFIX = `${TEST_DOMAIN_PREFIX}pair-`;
let daemon: Libvirtd;
let tmp: string;

/** A plain domain as pair create wants it: diskless, one user NIC; defined, not started. */
const USER_NIC = `
    <interface type='user'>
      <mac address='52:54:00:c0:10:99'/>
      <model type='e1000'/>
    </interface>`;
const plainXml = (name: string, devices = "") => testDomainXml(name, USER_NIC + devices);

async function define(xml: string): Promise<void> {
  const file = join(tmp, `${randomBytes(4).toString("hex")}.xml`);
  await writeFile(file, xml);
  await virsh(["define", file]);
}

async function definePlain(devices = ""): Promise<string> {
  const name = `${PREFIX}${randomBytes(4).toString("hex")}`;
  await define(plainXml(name, devices));
  return name;
}

async function names(): Promise<string[]> {
  const out = (await virsh(["list", "--all", "--name"])).stdout;
  return out.split("\n").filter((n) => n.startsWith(PREFIX));
}

async function removeOurs(): Promise<void> {
  for (const name of await names()) {
    await virsh(["destroy", name]).catch(() => undefined);
    await virsh(["undefine", name]);
  }
}

const dumpxml = async (name: string, ...flags: string[]) =>
  (await virsh(["dumpxml", name, ...flags])).stdout;

/** `==> role 'name' on URI <==` then that domain's XML, for each domain. */
function sections(stdout: string): { header: string; xml: string }[] {
  return stdout.split(/^(?===> )/m).map((part) => {
    const [header = "", ...xml] = part.split("\n");
    return { header, xml: xml.join("\n") };
  });
}

const ok = (r: CliRun) => {
  expect(r.stderr).not.toMatch(/^error:/m);
  expect(r.status).toBe(0);
};

beforeAll(async () => {
  daemon = await startLibvirtd();
  tmp = await mkdtemp(join(tmpdir(), "colo-hybrid-pair-"));
  await removeOurs();
}, 2 * MINUTE);

/** Set by a test that writes /etc/colo-hybrid/hosts.conf. */
let restoreHostsConf: (() => Promise<void>) | undefined;

afterEach(async () => {
  await restoreHostsConf?.();
  restoreHostsConf = undefined;
  await removeOurs();
}, MINUTE);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("colo-hybrid pair create", { timeout: 2 * MINUTE }, () => {
  it("refuses a secondary URI off the allow-list before it reaches anything, --dry-run too", async () => {
    const name = await definePlain();
    const marker = join(tmp, "ran");
    const evil = join(tmp, "evil.sh");
    await writeFile(evil, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    for (const hostile of HOSTILE_PEER_URIS) {
      const uri = hostile.replaceAll("/tmp/evil.sh", evil);
      for (const dry of [["--dry-run"], []]) {
        const r = cli(["pair", "create", name, "--secondary-uri", uri, ...dry]);
        expect(r.status, uri).toBe(1);
        expect(r.stderr).toContain("the secondary's URI: uri=");
        expect(r.stderr).toContain("is not allowed");
      }
    }
    expect(existsSync(marker)).toBe(false);
    expect(await names()).toEqual([name]);
    expect(parseDomainXml(await dumpxml(name)).metadata).toBeUndefined();
  });

  it("--dry-run prints both domains' XML, which libvirt takes as they are, and defines nothing", async () => {
    const name = await definePlain();
    const r = cli(["pair", "create", name, "--secondary-uri", "qemu:///system", "--dry-run"]);
    ok(r);
    expect(r.stderr).toMatch(/^warning: starting '.*' waits until '.*-secondary' has connected/m);
    const [primary, secondary, ...more] = sections(r.stdout);
    expect(more).toEqual([]);
    expect(primary?.header).toBe(`==> primary '${name}' on qemu:///system <==`);
    expect(secondary?.header).toBe(`==> secondary '${name}-secondary' on qemu:///system <==`);
    expect(await names()).toEqual([name]);
    expect(await dumpxml(name)).not.toContain("qemu:commandline");

    await define(secondary?.xml ?? "");
    await define(primary?.xml ?? "");
    const p = parseDomainXml(await dumpxml(name));
    const s = parseDomainXml(await dumpxml(`${name}-secondary`));
    expect(p.colo?.role).toBe("primary");
    expect(p.colo?.objects).toContain("colo-compare,id=comp0");
    expect(s.colo).toEqual({
      role: "secondary",
      objects: ["filter-redirector,id=f1", "filter-redirector,id=f2", "filter-rewriter,id=rew0"],
      incoming: "tcp:127.0.0.1:9004",
      disks: 0,
      images: [],
      diskImages: [],
    });
    expect(await dumpxml(name)).toContain(
      "<qemu:arg value='socket,id=compare1,host=127.0.0.1,port=9001,server=on,wait=on'/>",
    );
    expect(p.metadata).toMatchObject({
      ok: true,
      value: { role: "primary", peer: { uri: "qemu:///system", domain: `${name}-secondary` } },
    });
    expect(s.metadata).toMatchObject({
      ok: true,
      value: { role: "secondary", peer: { uri: "qemu:///system", domain: name } },
    });
  });

  it("refuses a disk it cannot replicate, saying why, and changes nothing", async () => {
    const disk = `
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/none.img'/>
      <target dev='hda' bus='ide'/>
    </disk>`;
    const name = await definePlain(disk);
    const before = await dumpxml(name, "--inactive");
    const r = cli(["pair", "create", name, "--secondary-uri", "qemu:///system"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `error: cannot make a COLO pair of '${name}':\n` +
        "  - disk hda (/var/lib/libvirt/images/none.img) cannot be replicated: bus 'ide': " +
        "virtio-blk, virtio-scsi and SATA disks are replicated (<target bus='virtio|scsi|sata'>)\n",
    );
    expect(await dumpxml(name, "--inactive")).toBe(before);
    expect(await names()).toEqual([name]);
  });

  it.each([
    ["our RPC client", {}],
    ["virsh", { COLO_HYBRID_LIBVIRT: "virsh" }],
  ])("defines the primary and the secondary (through %s)", async (_, env) => {
    const name = await definePlain();
    const uuid = (await virsh(["domuuid", name])).stdout.trim();
    // The secondary through a second connection: the daemon's TLS listener, with the test
    // certificates named in hosts.conf (a URI in metadata takes no parameters).
    const secondaryUri = `qemu+tls://127.0.0.1:${daemon.tlsPort}/system`;
    restoreHostsConf = await installHostsConf(`[127.0.0.1]\npkipath = ${daemon.pki.dir}\n`);
    const r = cli(
      [
        "pair",
        "create",
        name,
        "--secondary-uri",
        secondaryUri,
        "--secondary-name",
        `${name}-b`,
        "--ports",
        "9311,9312,9313,9314,9315",
        "--colo-period",
        "5000",
      ],
      undefined,
      { path: HOST_NODE.path, env: { ...process.env, ...env } },
    );
    ok(r);
    expect(r.stdout).toBe(
      `Domain '${name}' defined as the COLO primary on qemu:///system\n` +
        `Domain '${name}-b' defined as the COLO secondary on ${secondaryUri}\n`,
    );
    expect((await names()).sort()).toEqual([name, `${name}-b`]);
    for (const n of [name, `${name}-b`]) {
      expect((await virsh(["domstate", n])).stdout.trim()).toBe("shut off");
    }
    const p = parseDomainXml(await dumpxml(name));
    const s = parseDomainXml(await dumpxml(`${name}-b`));
    expect(p.uuid).toBe(uuid);
    expect(s.uuid).not.toBe(uuid);
    expect(s.colo?.incoming).toBe("tcp:127.0.0.1:9315");
    expect(p.metadata).toMatchObject({
      value: { peer: { uri: secondaryUri, domain: `${name}-b` }, params: { coloPeriod: 5000 } },
    });
    expect(s.metadata).toMatchObject({
      value: { peer: { uri: "qemu:///system", domain: name }, params: { coloPeriod: 5000 } },
    });

    // Once is enough: the primary is a COLO domain now, and the secondary's name is taken.
    const again = cli(["pair", "create", name, "--secondary-uri", "qemu:///system"]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^ {2}- already a COLO domain: /m);
  });

  it("gives a domain of two NICs the second one's ports after the sixth, or from the base port + 6", async () => {
    const name = await definePlain(`
    <interface type='user'>
      <mac address='52:54:00:c0:10:9a'/>
      <model type='e1000'/>
    </interface>`);
    const primaryXml = (...ports: string[]) => {
      const r = cli([
        "pair",
        "create",
        name,
        "--secondary-uri",
        "qemu:///system",
        "--dry-run",
        ...ports,
      ]);
      ok(r);
      return sections(r.stdout)[0]?.xml ?? "";
    };
    expect(primaryXml("--ports", "9401,9402,9403,9404,9405,9406,9411,9412,9413,9414")).toContain(
      "<qemu:arg value='socket,id=compare1-nic1,host=127.0.0.1,port=9412,server=on,wait=on'/>",
    );
    expect(primaryXml("--base-port", "9500")).toContain(
      "<qemu:arg value='socket,id=mirror0-nic1,host=127.0.0.1,port=9506,server=on,wait=off'/>",
    );
    const five = cli([
      "pair",
      "create",
      name,
      "--secondary-uri",
      "qemu:///system",
      "--ports",
      "9401,9402,9403,9404,9405",
    ]);
    expect(five.status).toBe(1);
    expect(five.stderr).toMatch(
      /^ {2}- the domain has 2 NICs, but the ports given are for 1 NIC: /m,
    );
  });

  it("refuses a running domain and a taken secondary name, listing every problem", async () => {
    const name = await definePlain();
    await define(plainXml(`${name}-secondary`));
    const running = await defineTestDomain(`${PREFIX}${randomBytes(4).toString("hex")}`);
    try {
      const taken = cli(["pair", "create", name, "--secondary-uri", "qemu:///system"]);
      expect(taken.status).toBe(1);
      expect(taken.stderr).toBe(
        `error: cannot make a COLO pair of '${name}':\n` +
          `  - a domain named '${name}-secondary' exists already on qemu:///system\n`,
      );
      const r = cli(["pair", "create", running.name, "--secondary-uri", "qemu:///system"]);
      expect(r.status).toBe(1);
      expect(r.stderr.split("\n")).toEqual([
        `error: cannot make a COLO pair of '${running.name}':`,
        `  - it is running: pair create redefines it, so it must be shut off first (virsh shutdown ${running.name})`,
        expect.stringMatching(/^ {2}- no NIC: /),
        "",
      ]);
    } finally {
      await running.destroy();
    }
  });

  it("puts the primary back as it was when the secondary cannot be defined", async () => {
    const name = await definePlain();
    const before = await dumpxml(name, "--inactive", "--security-info");
    // libvirt refuses a '/' in a name; the primary has been redefined by then.
    const r = cli([
      "pair",
      "create",
      name,
      "--secondary-uri",
      "qemu:///system",
      "--secondary-name",
      "a/b",
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: defining 'a/b' on qemu:///system failed: .*'/'.*; '${name}' is as it was$`,
        "m",
      ),
    );
    expect(await dumpxml(name, "--inactive", "--security-info")).toBe(before);
  });

  it("says what is wrong with the command line, or with the domain's name", () => {
    const usage = (args: string[]) => cli(["pair", ...args]);
    expect(usage(["create", "d"]).stderr).toBe("error: pair create needs --secondary-uri URI\n");
    expect(usage(["create"]).stderr).toBe("error: pair create takes one DOMAIN\n");
    expect(usage(["delete", "d"]).stderr).toMatch(/^error: unknown pair command "delete"/);
    const ports = usage(["create", "d", "--secondary-uri", "qemu:///system", "--ports", "1,2"]);
    expect(ports.status).toBe(1);
    expect(ports.stderr).toMatch(/^error: --ports takes five port numbers A,B,C,D,M/);
    const seven = ["create", "d", "--secondary-uri", "qemu:///system", "--ports", "1,2,3,4,5,6,7"];
    expect(usage(seven).stderr).toMatch(/and four more \(A,B,C,D\) for each further NIC/);
    const missing = usage(["create", `${PREFIX}none`, "--secondary-uri", "qemu:///system"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^error: failed to get domain '${PREFIX}none'`));
    expect(cli(["help", "pair"]).stdout).toMatch(/^usage: colo-hybrid pair create DOMAIN/);
  });
});

describe("colo-hybrid pair remove", { timeout: 2 * MINUTE }, () => {
  /** A plain domain with a <qemu:commandline> and other tools' metadata of its own. */
  async function defineOwn(): Promise<string> {
    const name = `${PREFIX}${randomBytes(4).toString("hex")}`;
    await define(
      plainXml(name)
        .replace("<domain type='qemu'>", `<domain type='qemu' xmlns:qemu='${QEMU_NS}'>`)
        .replace(
          "  <memory ",
          "  <metadata><bk:policy xmlns:bk='http://example.org/xmlns/backup/1.0' keep='7'/></metadata>\n  <memory ",
        )
        .replace(
          "</domain>",
          "  <qemu:commandline><qemu:arg value='-chardev'/><qemu:arg value='socket,id=mine,host=127.0.0.1,port=7000,server=on,wait=off'/><qemu:env name='TMPDIR' value='/var/tmp'/></qemu:commandline>\n</domain>",
        ),
    );
    return name;
  }

  const create = (name: string, ...more: string[]) =>
    ok(cli(["pair", "create", name, "--secondary-uri", "qemu:///system", ...more]));

  /** Gives a domain our metadata, as pair create would have. */
  const setMetadata = (name: string, meta: HybridMetadata) =>
    virsh([
      "metadata",
      name,
      "--uri",
      METADATA_NS,
      "--key",
      METADATA_KEY,
      "--set",
      formatMetadata(meta),
      "--config",
    ]);
  const meta = (role: HybridMetadata["role"], domain: string): HybridMetadata => ({
    role,
    peer: { uri: "qemu:///system", domain },
    protect: false,
    params: DEFAULT_PARAMS,
  });

  it.each([
    ["our RPC client", {}],
    ["virsh", { COLO_HYBRID_LIBVIRT: "virsh" }],
  ])("undefines the secondary and gives back the domain as it was (through %s)", async (_, env) => {
    const name = await defineOwn();
    const before = await dumpxml(name, "--inactive", "--security-info");
    // The secondary through the peer code: the daemon's TLS listener, as in pair create's test.
    const secondaryUri = `qemu+tls://127.0.0.1:${daemon.tlsPort}/system`;
    restoreHostsConf = await installHostsConf(`[127.0.0.1]\npkipath = ${daemon.pki.dir}\n`);
    ok(cli(["pair", "create", name, "--secondary-uri", secondaryUri]));
    expect(await dumpxml(name, "--inactive")).toContain("colo-compare,id=comp0");

    const r = cli(["pair", "remove", name], undefined, {
      path: HOST_NODE.path,
      env: { ...process.env, ...env },
    });
    ok(r);
    expect(r.stdout).toBe(
      `Domain '${name}-secondary' (the COLO secondary) undefined on ${secondaryUri}\n` +
        `Domain '${name}' defined without COLO on qemu:///system\n`,
    );
    expect(await dumpxml(name, "--inactive", "--security-info")).toBe(before);
    expect(await names()).toEqual([name]);
  });

  it("--dry-run says what it would do, prints the plain domain's XML, and changes nothing", async () => {
    const name = await defineOwn();
    const before = await dumpxml(name, "--inactive");
    create(name);
    const paired = await dumpxml(name, "--inactive");
    const r = cli(["pair", "remove", name, "--dry-run"]);
    ok(r);
    const [undefine = "", ...rest] = r.stdout.split("\n");
    expect(undefine).toBe(
      `would undefine '${name}-secondary' (the COLO secondary) on qemu:///system`,
    );
    const [plain, ...more] = sections(rest.join("\n"));
    expect(more).toEqual([]);
    expect(plain?.header).toBe(`==> plain '${name}' on qemu:///system <==`);
    expect(await dumpxml(name, "--inactive")).toBe(paired);
    expect((await names()).sort()).toEqual([name, `${name}-secondary`]);
    // libvirt takes it as it is, and it is the domain from before.
    await define(plain?.xml ?? "");
    expect(await dumpxml(name, "--inactive")).toBe(before);
  });

  it("says the secondary is gone already, and still gives back the domain", async () => {
    const name = await definePlain();
    const before = await dumpxml(name, "--inactive");
    create(name);
    await virsh(["undefine", `${name}-secondary`]);
    const r = cli(["pair", "remove", name]);
    ok(r);
    expect(r.stdout).toBe(
      `Domain '${name}-secondary' is not on qemu:///system: the secondary is gone already\n` +
        `Domain '${name}' defined without COLO on qemu:///system\n`,
    );
    expect(await dumpxml(name, "--inactive")).toBe(before);
  });

  it("refuses while either domain runs, listing both, and changes nothing", async () => {
    // Running domains given our metadata after they started: no COLO QEMU, and no agent.
    const primary = await defineTestDomain(`${PREFIX}${randomBytes(4).toString("hex")}`);
    const secondary = await defineTestDomain(`${primary.name}-secondary`);
    try {
      await setMetadata(primary.name, meta("primary", secondary.name));
      await setMetadata(secondary.name, meta("secondary", primary.name));
      const before = await dumpxml(primary.name, "--inactive");
      const r = cli(["pair", "remove", primary.name]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `error: cannot remove the COLO pair of '${primary.name}' on qemu:///system:\n` +
          `  - it is running: stop the pair first: virsh destroy ${primary.name}\n` +
          `  - '${secondary.name}' on qemu:///system is running: stop the pair first: virsh destroy ${secondary.name}\n`,
      );
      expect(await dumpxml(primary.name, "--inactive")).toBe(before);
      expect((await names()).sort()).toEqual([primary.name, secondary.name].sort());
    } finally {
      await secondary.destroy();
      await primary.destroy();
    }
  });

  it("refuses a plain domain, a secondary, and a secondary's name taken by another domain", async () => {
    const name = await definePlain();
    const plainRun = cli(["pair", "remove", name]);
    expect(plainRun.status).toBe(1);
    expect(plainRun.stderr).toBe(
      `error: cannot remove the COLO pair of '${name}' on qemu:///system:\n` +
        "  - it has no colo-hybrid metadata: it is not a pair that pair create made\n",
    );
    create(name);
    const onSecondary = cli(["pair", "remove", `${name}-secondary`]);
    expect(onSecondary.status).toBe(1);
    expect(onSecondary.stderr).toContain(
      `  - it is the COLO secondary of '${name}': run it on the primary (colo-hybrid pair remove ${name} -c qemu:///system)\n`,
    );
    await virsh(["undefine", `${name}-secondary`]);
    await define(plainXml(`${name}-secondary`));
    const paired = await dumpxml(name, "--inactive");
    const taken = cli(["pair", "remove", name]);
    expect(taken.status).toBe(1);
    expect(taken.stderr).toBe(
      `error: cannot remove the COLO pair of '${name}' on qemu:///system:\n` +
        `  - '${name}-secondary' on qemu:///system has no colo-hybrid metadata: it is not the secondary\n`,
    );
    expect(await dumpxml(name, "--inactive")).toBe(paired);
    expect((await names()).sort()).toEqual([name, `${name}-secondary`]);
  });

  it("--plain: undefines a primary made as a new domain, and the plain one stays", async () => {
    const name = await definePlain();
    const before = await dumpxml(name, "--inactive");
    const plan = planPair(before, { secondaryUri: "qemu:///system", primaryName: `${name}-p` });
    await define(plan.secondary.xml);
    await define(plan.primary.xml);
    const missing = cli(["pair", "remove", `${name}-p`, "--plain", `${PREFIX}none`]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(
      `  - '${PREFIX}none' (--plain) is not on qemu:///system: undefining '${name}-p' would leave neither`,
    );
    const r = cli(["pair", "remove", `${name}-p`, "--plain", name]);
    ok(r);
    expect(r.stdout).toBe(
      `Domain '${name}-secondary' (the COLO secondary) undefined on qemu:///system\n` +
        `Domain '${name}-p' (the COLO primary) undefined on qemu:///system; '${name}' stays\n`,
    );
    expect(await names()).toEqual([name]);
    expect(await dumpxml(name, "--inactive")).toBe(before);
  });

  it("says what is wrong with the command line", () => {
    expect(cli(["pair", "remove"]).stderr).toBe("error: pair remove takes one DOMAIN\n");
    const missing = cli(["pair", "remove", `${PREFIX}none`]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^error: failed to get domain '${PREFIX}none'`));
    expect(cli(["help", "pair"]).stdout).toMatch(/^usage: colo-hybrid pair remove DOMAIN/m);
  });
});
