// The lab hosts (test/lab/hosts/, `make lab-hosts`): two libvirt hosts in namespaces of their
// own, reached by the product's own client over qemu+ssh with pinned host keys and qemu+tls
// with the lab's CA, each from the other too; a foreign CA or an unpinned host key is refused;
// `make lab-hosts` replaces a running lab, and `make lab-hosts-stop` leaves nothing of it.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Libvirt } from "../../src/libvirt/api.js";
import { connectLibvirt } from "../../src/libvirt/connect.js";
import { connectPeer } from "../../src/libvirt/peer.js";
import { run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { makeTestPki } from "../support/pki.js";
import { isAlive } from "../support/processes.js";
import { processesIn } from "./hosts/host.js";
import { type LabHosts, mountsUnder, startLabHosts, stopLabHosts } from "./hosts/hosts.js";
import { hostLayout, LAB_DIR, LAN_NETNS, ROOT_LINK } from "./hosts/layout.js";

const WRONG = join(BUILD_DIR, "lab-hosts-test");

const hostUuid = (capabilities: string) => /<host>\s*<uuid>([^<]+)<\/uuid>/.exec(capabilities)?.[1];

async function withClient<T>(connect: Promise<Libvirt>, use: (lv: Libvirt) => Promise<T>) {
  const lv = await connect;
  try {
    return await use(lv);
  } finally {
    await lv.close();
  }
}

const refusal = (connect: Promise<Libvirt>) =>
  connect.then(
    async (lv) => {
      await lv.close();
      return "connected";
    },
    (e: Error) => e.message,
  );

/** What stop must leave no trace of: each host's processes and namespaces (device:inode). */
function traces() {
  return [0, 1].map(hostLayout).map((h) => {
    const files = [`/run/netns/${h.netns}`, h.mntFile];
    const ids = files.map((f) => {
      const s = statSync(f);
      return `${s.dev}:${s.ino}`;
    });
    return { pids: processesIn(files), ids };
  });
}

/** device:inode of every namespace a live process is in. */
function liveNamespaces(): Set<string> {
  const ids = new Set<string>();
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    for (const ns of ["net", "mnt"]) {
      try {
        const s = statSync(`/proc/${pid}/ns/${ns}`);
        ids.add(`${s.dev}:${s.ino}`);
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return ids;
}

const labCli = (command: "start" | "stop") =>
  run(process.execPath, ["node_modules/tsx/dist/cli.mjs", "test/lab/hosts/main.ts", command], {
    timeoutMs: 120_000,
  });

describe("lab hosts", () => {
  let lab: LabHosts;

  beforeAll(async () => {
    lab = await startLabHosts({ count: 2 });
  }, 120_000);

  afterAll(async () => {
    await stopLabHosts();
    await rm(WRONG, { recursive: true, force: true });
  }, 60_000);

  it("are reached from here by the product's client over ssh and tls, each its own host", async () => {
    const seen: (string | undefined)[] = [];
    for (const h of lab.hosts) {
      for (const uri of [h.sshUri, h.tlsUri]) {
        const caps = await withClient(
          connectPeer(uri, { hostsFile: lab.hostsConfFile, via: "rpc" }),
          (lv) => lv.capabilities(),
        );
        seen.push(hostUuid(caps));
      }
      const name = await run("virsh", ["-c", `${h.tlsUri}?pkipath=${lab.pkipath}`, "hostname"]);
      expect(name.stdout.trim()).toBe(h.name);
    }
    const [a, b] = lab.hosts.map((h) => h.hostUuid);
    expect(seen).toEqual([a, a, b, b]);
    expect(a).not.toBe(b);
  }, 60_000);

  it("reach each other over tls and ssh with what each host has", async () => {
    for (const [from, to] of [lab.hosts, [...lab.hosts].reverse()] as const) {
      const virsh = async (uri: string) =>
        (await from!.run("virsh", ["-c", uri, "hostname"])).stdout.trim();
      // TLS with the host's own /etc/pki; ssh in batch mode, the key pinned in its /etc/ssh.
      expect(await virsh(`${to!.tlsUri}?pkipath=${lab.pkipath}`)).toBe(to!.name);
      expect(await virsh(to!.tlsUri)).toBe(to!.name);
      expect(await virsh(`${to!.sshUri}?keyfile=${lab.sshKey}&no_tty=1`)).toBe(to!.name);
      // The host's own hosts.conf names the other host only.
      const conf = await from!.run("cat", ["/etc/colo-hybrid/hosts.conf"]);
      expect(conf.stdout).toBe(from!.hostsConf);
      expect(conf.stdout).toContain(`[${to!.address}]`);
      expect(conf.stdout).not.toContain(`[${from!.address}]`);
    }
  }, 60_000);

  it("refuse a certificate of another CA and a host key that is not the pinned one", async () => {
    const [a, b] = lab.hosts as [LabHosts["hosts"][0], LabHosts["hosts"][0]];
    const other = await makeTestPki();
    // This side: the lab's server certificate checked against another CA.
    const tls = (pkipath: string) =>
      refusal(connectLibvirt(a.tlsUri, "rpc", { params: new Map([["pkipath", pkipath]]) }));
    expect(await tls(other.dir)).toBe(
      `TLS connection to ${a.address}:16514: certificate verification failed: the server's certificate is not signed by the CA in ${join(other.dir, "cacert.pem")}`,
    );
    // The host's side: a client certificate of another CA.
    const mixed = join(WRONG, "pki");
    await mkdir(mixed, { recursive: true });
    await writeFile(join(mixed, "cacert.pem"), await readFile(join(lab.pkipath, "cacert.pem")));
    await writeFile(join(mixed, "clientcert.pem"), await readFile(other.clientCert));
    await writeFile(join(mixed, "clientkey.pem"), await readFile(other.clientKey));
    expect(await tls(mixed)).toMatch(/refused our certificate/);

    // ssh: A's address with B's host key pinned.
    const known = join(WRONG, "known_hosts");
    const bKey = (await readFile(lab.knownHosts, "utf8"))
      .split("\n")
      .find((l) => l.startsWith(`${b.address},`));
    await writeFile(known, `${bKey?.replace(b.address, a.address)}\n`);
    const ssh = (knownHosts: string) =>
      refusal(
        connectLibvirt(a.sshUri, "rpc", {
          params: new Map([
            ["keyfile", lab.sshKey],
            ["known_hosts", knownHosts],
            ["no_tty", "1"],
          ]),
        }),
      );
    expect(await ssh(known)).toMatch(/Host key verification failed/);
    await writeFile(known, "");
    expect(await ssh(known)).toMatch(/Host key verification failed/);
  }, 60_000);

  it("make lab-hosts replaces them, and make lab-hosts-stop leaves nothing behind", async () => {
    const first = traces();
    expect(first.every((t) => t.pids.length >= 3)).toBe(true);
    const started = await labCli("start");
    expect(started.stdout).toBe(
      "colo-lab-a qemu+tls://10.77.0.1/system\ncolo-lab-b qemu+tls://10.77.0.2/system\n",
    );
    const second = traces();
    for (const h of lab.hosts) {
      const name = await run("virsh", ["-c", `${h.tlsUri}?pkipath=${lab.pkipath}`, "hostname"]);
      expect(name.stdout.trim()).toBe(h.name);
    }
    expect(first.flatMap((t) => t.pids).filter(isAlive)).toEqual([]);

    await labCli("stop");
    const netns = (await run("ip", ["netns", "list"])).stdout;
    for (const name of [LAN_NETNS, ...lab.hosts.map((h) => h.name)]) {
      expect(netns).not.toContain(name);
    }
    expect(existsSync(`/sys/class/net/${ROOT_LINK}`)).toBe(false);
    expect(mountsUnder(LAB_DIR)).toEqual([]);
    expect(existsSync(LAB_DIR)).toBe(false);
    const all = [...first, ...second];
    expect(all.flatMap((t) => t.pids).filter(isAlive)).toEqual([]);
    const live = liveNamespaces();
    expect(all.flatMap((t) => t.ids).filter((id) => live.has(id))).toEqual([]);
  }, 180_000);
});
