// QMP round trip to a peer host against this host, as the agents make them: colo-hybrid's RPC
// client, one persistent connection each, to a paused TCG domain (a) on this host's libvirtd
// over qemu+tls to 127.0.0.1, the anchor: the same transport without the network; (a') over its
// UNIX socket; (b) on lab host B (make lab-hosts, test/lab/hosts/) over qemu+tls, and (c) over
// qemu+ssh, each verified as hosts.conf says. Interleaved: ROUNDS rounds of BATCH calls, in an
// order that rotates, so that background load falls on all alike.
// Needs root; starts this host's libvirtd and the lab hosts, and removes what it made.
// Last line: remote tls / local tls and remote ssh / local tls, for the median.
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DomainRef, Libvirt } from "../src/libvirt/api.js";
import { connectLibvirt } from "../src/libvirt/connect.js";
import { connectPeer } from "../src/libvirt/peer.js";
import { startLabHosts, stopLabHosts } from "../test/lab/hosts/hosts.js";
import { defineTestDomain, testDomainXml } from "../test/support/domains.js";
import { BUILD_DIR } from "../test/support/paths.js";
import { startLibvirtd, TEST_DOMAIN_PREFIX } from "../test/support/services.js";

const ROUNDS = 30;
const BATCH = 100;
const WARMUP = 200;
const COMMAND = "query-status";

const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)] ?? NaN;
const p99 = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))] ?? NaN;
};

interface Side {
  label: string;
  lv: Libvirt;
  dom: DomainRef;
  times: number[];
}

async function batch(side: Side, n: number, timed: boolean): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await side.lv.qmp(side.dom, COMMAND);
    if (timed) side.times.push(performance.now() - t0);
  }
}

const daemon = await startLibvirtd();
const local = await defineTestDomain(undefined, { paused: true });
const lab = await startLabHosts({ count: 2 });
const open: Libvirt[] = [];
try {
  const b = lab.hosts[1];
  if (b === undefined) throw new Error("no lab host B");
  // The same domain on B, defined and started by B's own virsh.
  const name = `${TEST_DOMAIN_PREFIX}${randomBytes(4).toString("hex")}`;
  const dir = join(BUILD_DIR, "bench");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.xml`);
  await writeFile(file, testDomainXml(name));
  await b.run("virsh", ["define", file]);
  await rm(file);
  await b.run("virsh", ["start", name, "--paused"]);

  const side = async (label: string, lv: Libvirt, domain: string): Promise<Side> => {
    open.push(lv);
    return { label, lv, dom: await lv.lookupByName(domain), times: [] };
  };
  const peer = { hostsFile: lab.hostsConfFile, via: "rpc" } as const;
  const sides = [
    await side(
      "this host, qemu+tls://127.0.0.1",
      await connectLibvirt(daemon.tlsUri, "rpc"),
      local.name,
    ),
    await side("this host, UNIX socket", await connectLibvirt("qemu:///system", "rpc"), local.name),
    await side(`host B, ${b.tlsUri}`, await connectPeer(b.tlsUri, peer), name),
    await side(`host B, ${b.sshUri}`, await connectPeer(b.sshUri, peer), name),
  ];
  for (const s of sides) await batch(s, WARMUP, false);
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < sides.length; i++)
      await batch(sides[(round + i) % sides.length] as Side, BATCH, true);

  console.log(`${COMMAND} to a paused TCG domain, ${ROUNDS} rounds of ${BATCH} calls, interleaved`);
  for (const s of sides)
    console.log(
      `${s.label.padEnd(44)} median ${median(s.times).toFixed(3)} ms  p99 ${p99(s.times).toFixed(3)} ms`,
    );
  const [anchor, , tls, ssh] = sides.map((s) => median(s.times)) as number[] as [
    number,
    number,
    number,
    number,
  ];
  console.log(
    `remote QMP round trip, median, to this host's over tls: tls ${(tls / anchor).toFixed(2)}, ssh ${(ssh / anchor).toFixed(2)}`,
  );
} finally {
  for (const lv of open) await lv.close().catch(() => undefined);
  await stopLabHosts();
  await local.destroy();
}
