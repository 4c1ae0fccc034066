// A corosync 3 + Pacemaker 2.1 cluster across the three lab hosts, as the failover drills need
// it: knet with crypto, votequorum, fencing on (stonith:fence_colo_lab, the lab's power switch),
// no resources. colo-lab-c is the third vote and a fencer; the COLO resource will run on A and B.
// No systemd and no pcsd: each host's corosync and pacemakerd are started by hand, with their
// state and logs in the host's own /var/lib and /var/log.
import { spawn } from "node:child_process";
import { closeSync, openSync, statSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type CrmMon,
  type FenceEvent,
  parseCrmMon,
  parseFenceHistory,
} from "../../../src/cluster/crm-mon.js";
import { CommandError, DAEMON_ENV, run } from "../../support/exec.js";
import { commandLine } from "../../support/processes.js";
import { waitUntil } from "../../support/wait.js";
import { killProcessesIn, nsenterArgs, processesIn, startDaemon, startDaemons } from "./host.js";
import type { LabHost, LabHosts } from "./hosts.js";
import { type HostLayout, hostLayout, LAB_DIR, MAX_HOSTS, REPO_DIR } from "./layout.js";

// corosync's token, ms, by default. With token_coefficient's default 650 ms per node beyond two,
// three nodes run with a token of 1650 ms and consensus 1.2 × that (1980 ms): a node that stops
// answering is out of the membership about 3.6 s later. Short, for drills; corosync runs
// SCHED_RR, so a loaded machine does not stall it. corosync's default, 3000, would make it
// about 8 s.
const TOKEN_MS = 1000;

const CLUSTER_DIR = join(LAB_DIR, "cluster");
/** Where fence_colo_lab reads each host's namespaces (cluster.ts writes it on every host). */
const OUTLETS = "/etc/colo-lab/outlets";
const FENCE_AGENT = join(REPO_DIR, "test", "lab", "hosts", "fence_colo_lab");
/** The stonith resource's id in the CIB. */
export const FENCE_DEVICE = "fence-lab";
const PACEMAKER_LOG = "/var/log/pacemaker/pacemaker.log";
const COROSYNC_LOG = "/var/log/corosync/corosync.log";
const CIB_FILE = "/var/lib/pacemaker/cib/cib.xml";

export type { FenceEvent, NodeStatus, ResourceStatus } from "../../../src/cluster/crm-mon.js";

/** One host's view, from `crm_mon --output-as=xml`. */
export type ClusterStatus = CrmMon;

export interface Cluster {
  /** corosync's totem timings as it runs them (after token_coefficient), ms. */
  tokenMs: number;
  consensusMs: number;
  /** The cluster as `host` sees it. */
  status(host: LabHost): Promise<ClusterStatus>;
  /**
   * Until `host` sees quorum, the nodes `online` (default: every host) online and those `down`
   * offline and clean (fenced, or left): what it saw then.
   */
  waitForNodes(host: LabHost, nodes?: ExpectedNodes, timeoutMs?: number): Promise<ClusterStatus>;
  /** The fencing operations against `target`, as `host`'s fencer knows them. */
  fenceHistory(host: LabHost, target: string): Promise<FenceEvent[]>;
}

export interface ExpectedNodes {
  online?: readonly string[];
  down?: readonly string[];
}

export interface ClusterOptions {
  /** To wait for each step (quorum, all nodes online, the fence device started), ms. */
  timeoutMs?: number;
  /** corosync's token (TOKEN_MS by default) and token_coefficient (its own default), ms. */
  tokenMs?: number;
  tokenCoefficientMs?: number | undefined;
}

interface Totem {
  tokenMs: number;
  tokenCoefficientMs: number | undefined;
}

/** The layout of a lab host by its name. */
function layoutOf(host: { name: string }): HostLayout {
  for (let i = 0; i < MAX_HOSTS; i++) if (hostLayout(i).name === host.name) return hostLayout(i);
  throw new Error(`${host.name} is not a lab host`);
}

// corosync's parser wants a newline after every "{".
function corosyncConf(hosts: readonly LabHost[], totem: Totem): string {
  const nodes = hosts.map(
    (h, i) =>
      `\tnode {\n\t\tname: ${h.name}\n\t\tnodeid: ${i + 1}\n\t\tring0_addr: ${h.address}\n\t}\n`,
  );
  return `# Written by the lab (test/lab/hosts/cluster.ts).
totem {
\tversion: 2
\tcluster_name: colo-lab
\ttransport: knet
\tcrypto_cipher: aes256
\tcrypto_hash: sha256
\ttoken: ${totem.tokenMs}
${totem.tokenCoefficientMs === undefined ? "" : `\ttoken_coefficient: ${totem.tokenCoefficientMs}\n`}}
nodelist {
${nodes.join("")}}
quorum {
\tprovider: corosync_votequorum
}
logging {
\tto_logfile: yes
\tlogfile: ${COROSYNC_LOG}
\tto_syslog: no
\tto_stderr: no
\ttimestamp: hires
}
`;
}

/** The namespaces of each host, as /proc/PID/ns/* name them: the lab's power outlets. */
function outlets(hosts: readonly LabHost[]): string {
  const id = (kind: string, file: string) => `${kind}:[${statSync(file).ino}]`;
  return hosts
    .map(layoutOf)
    .map((h) => `${h.name} ${id("net", `/run/netns/${h.netns}`)} ${id("mnt", h.mntFile)}\n`)
    .join("");
}

/** A command's output also when it exits non-zero (corosync-quorumtool says 2: not quorate). */
async function output(host: LabHost, cmd: string, args: readonly string[]): Promise<string> {
  try {
    return (await host.run(cmd, args)).stdout;
  } catch (e) {
    if (e instanceof CommandError) return e.stdout;
    throw e;
  }
}

const quorate = async (host: LabHost) =>
  /^Quorate:\s+Yes$/m.test(await output(host, "corosync-quorumtool", ["-s"]));

/**
 * The host's corosync and Pacemaker files: corosync.conf, the authkey, the outlets, the first
 * CIB; its own /var/log/corosync and /var/log/pacemaker (/var/lib is the host's own already,
 * /var/log is this machine's); fence_colo_lab where pacemaker-fenced looks for agents, in
 * /usr/sbin (an overlay of the host's: this machine's /usr/sbin stays as it is).
 */
async function prepareHost(host: LabHost, conf: string, sbin: string): Promise<void> {
  const h = layoutOf(host);
  const dir = join(h.dir, "cluster");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "corosync.conf"), conf);
  const install = (args: string[]) => host.run("install", args);
  await install(["-D", "-m", "0644", join(dir, "corosync.conf"), "/etc/corosync/corosync.conf"]);
  await install(["-D", "-m", "0400", join(CLUSTER_DIR, "authkey"), "/etc/corosync/authkey"]);
  await install(["-D", "-m", "0644", join(CLUSTER_DIR, "outlets"), OUTLETS]);
  const hacluster = ["-o", "hacluster", "-g", "haclient"];
  await install([...hacluster, "-m", "0600", join(CLUSTER_DIR, "cib.xml"), CIB_FILE]);
  for (const [name, user, group, mode] of [
    ["corosync", "root", "root", "0755"],
    ["pacemaker", "hacluster", "haclient", "0770"],
  ] as const) {
    const logDir = join(dir, `log-${name}`);
    await run("install", ["-d", "-o", user, "-g", group, "-m", mode, logDir]);
    await host.run("mount", ["--bind", logDir, `/var/log/${name}`]);
  }
  await host.run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${sbin}:/usr/sbin`,
    "/usr/sbin",
  ]);
}

/**
 * pacemakerd stays in the foreground: detached, its output in a file, no descriptor of ours
 * (a test runner would wait for a pipe it held). PCMK_logfile: its detail log in the host's
 * /var/log/pacemaker; no syslog (this machine's).
 */
function startPacemaker(h: HostLayout): void {
  const fd = openSync(join(h.dir, "pacemakerd.out"), "a");
  try {
    const child = spawn("nsenter", [...nsenterArgs(h), "--", "pacemakerd"], {
      env: { ...DAEMON_ENV, PCMK_logfile: PACEMAKER_LOG, PCMK_logfacility: "none" },
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
}

/**
 * The configuration every host starts with. Fencing on, with "off" rather than reboot: a fenced
 * host stays down until the lab powers it on. Without quorum a partition stops its resources
 * (and cannot fence). dc-deadtime 2 s: by default a starting cluster waits 20 s for a DC that
 * is not there before it elects one, all nodes up or not.
 */
function firstCib(empty: string, hosts: readonly LabHost[]): string {
  const nvpair = (name: string, value: string, id = FENCE_DEVICE) =>
    `<nvpair id="${id}-${name}" name="${name}" value="${value}"/>`;
  const options = [
    ["dc-deadtime", "2s"],
    ["stonith-enabled", "true"],
    ["stonith-action", "off"],
    ["no-quorum-policy", "stop"],
  ].map(([name, value]) => nvpair(name as string, value as string, "options"));
  const device = [
    `<primitive id="${FENCE_DEVICE}" class="stonith" type="fence_colo_lab">`,
    `<instance_attributes id="${FENCE_DEVICE}-params">`,
    nvpair("pcmk_host_list", hosts.map((h) => h.name).join(" ")),
    nvpair("pcmk_host_check", "static-list"),
    nvpair("outlets", OUTLETS),
    "</instance_attributes><operations>",
    `<op id="${FENCE_DEVICE}-monitor" name="monitor" interval="60s"/>`,
    "</operations></primitive>",
  ];
  const replaced = empty
    .replace(
      "<crm_config/>",
      `<crm_config><cluster_property_set id="options">${options.join("")}</cluster_property_set></crm_config>`,
    )
    .replace("<resources/>", `<resources>${device.join("")}</resources>`);
  if (!replaced.includes(FENCE_DEVICE) || !replaced.includes("dc-deadtime"))
    throw new Error(`cibadmin --empty gave no <crm_config/> and <resources/>:\n${empty}`);
  return replaced;
}

/** The cluster as `host` sees it. */
const statusOn = async (host: LabHost) =>
  parseCrmMon((await host.run("crm_mon", ["-1", "--output-as=xml"])).stdout);

/**
 * The cluster on the lab's three hosts, up: every node online, quorum, fencing configured and
 * its device started. Stopped with the lab (stopLabHosts kills the cluster's daemons first).
 */
export async function startCluster(lab: LabHosts, opts: ClusterOptions = {}): Promise<Cluster> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const hosts = lab.hosts;
  if (hosts.length !== MAX_HOSTS) {
    throw new Error(`the cluster needs ${MAX_HOSTS} lab hosts (a third vote), not ${hosts.length}`);
  }
  const [first] = hosts as [LabHost];
  await mkdir(CLUSTER_DIR, { recursive: true });
  await run("corosync-keygen", ["-k", join(CLUSTER_DIR, "authkey")]);
  await writeFile(join(CLUSTER_DIR, "outlets"), outlets(hosts));
  const empty = (await run("cibadmin", ["--empty"])).stdout;
  await writeFile(join(CLUSTER_DIR, "cib.xml"), firstCib(empty, hosts));
  const sbin = join(CLUSTER_DIR, "sbin");
  await mkdir(sbin, { recursive: true });
  await symlink(FENCE_AGENT, join(sbin, "fence_colo_lab"));
  const conf = corosyncConf(hosts, {
    tokenMs: opts.tokenMs ?? TOKEN_MS,
    tokenCoefficientMs: opts.tokenCoefficientMs,
  });
  await Promise.all(
    hosts.map(async (host) => {
      await prepareHost(host, conf, sbin);
      await startDaemon(layoutOf(host), ["corosync"]);
    }),
  );
  await Promise.all(
    hosts.map((host) => waitUntil(`quorum on ${host.name}`, () => quorate(host), timeoutMs)),
  );
  // The quorum node's Pacemaker first, and the DC until the others have joined: then it stays DC
  // (an election prefers the controller that has run longest), and losing a pair's host never
  // costs the electing of a new DC before the fencing (1.2 s measured on this machine).
  const quorumNode = hosts[MAX_HOSTS - 1] as LabHost;
  startPacemaker(layoutOf(quorumNode));
  await waitUntil(
    `${quorumNode.name} to be the DC`,
    async () => (await statusOn(quorumNode).catch(() => undefined))?.dc === quorumNode.name,
    timeoutMs,
    200,
  );
  for (const host of hosts) if (host !== quorumNode) startPacemaker(layoutOf(host));

  const status = statusOn;
  const waitForNodes = async (
    host: LabHost,
    { online = hosts.map((h) => h.name), down = [] }: ExpectedNodes = {},
    ms = timeoutMs,
  ) => {
    let seen: ClusterStatus | undefined;
    await waitUntil(
      `${host.name} to see ${online.join(", ")} online${down.length > 0 ? `, ${down.join(", ")} down` : ""}, with quorum`,
      async () => {
        seen = await status(host);
        const node = (name: string) => seen?.nodes.find((n) => n.name === name);
        return (
          seen.quorum &&
          online.every((n) => node(n)?.online) &&
          down.every((n) => node(n)?.online === false && !node(n)?.unclean)
        );
      },
      ms,
      200,
    );
    return seen as ClusterStatus;
  };
  await waitForNodes(first);

  await waitUntil(
    `${FENCE_DEVICE} started`,
    async () =>
      (await status(first)).resources.some((r) => r.id === FENCE_DEVICE && r.role === "Started"),
    timeoutMs,
    200,
  );

  const totem = async (key: string) => {
    const line = await output(first, "corosync-cmapctl", ["-g", `runtime.config.totem.${key}`]);
    return Number(/= (\d+)$/m.exec(line)?.[1]);
  };
  return {
    tokenMs: await totem("token"),
    consensusMs: await totem("consensus"),
    status,
    waitForNodes,
    fenceHistory: async (host, target) =>
      parseFenceHistory(
        (await host.run("stonith_admin", ["--history", target, "--output-as=xml"])).stdout,
      ),
  };
}

const namespaceFiles = (h: HostLayout) => [`/run/netns/${h.netns}`, h.mntFile];

/** A power cut on the host: SIGKILL to every process of it (its QEMUs too), at once. */
export function powerOff(host: LabHost): Promise<void> {
  const h = layoutOf(host);
  return killProcessesIn(h.name, namespaceFiles(h), ["SIGKILL"]);
}

/** Whether anything runs on the host: false once it is fenced or powered off. */
export function isPoweredOn(host: LabHost): boolean {
  return processesIn(namespaceFiles(layoutOf(host))).length > 0;
}

/** The host's corosync and Pacemaker logs, from this machine (they outlive a fence). */
export function clusterLogs(host: LabHost): { corosync: string; pacemaker: string } {
  const dir = join(layoutOf(host).dir, "cluster");
  return {
    corosync: join(dir, "log-corosync", "corosync.log"),
    pacemaker: join(dir, "log-pacemaker", "pacemaker.log"),
  };
}

/**
 * The host booted again, after powerOff or fencing: its virtlogd, libvirtd and sshd, then (in a
 * lab with the cluster) corosync and pacemakerd, which rejoin the cluster once it reaches the
 * others.
 */
export async function powerOn(
  host: LabHost,
  { timeoutMs = 60_000, cluster = true }: { timeoutMs?: number; cluster?: boolean } = {},
): Promise<void> {
  const h = layoutOf(host);
  await startDaemons(h, timeoutMs);
  if (!cluster) return;
  // Not until quorum: the host may come back to a partition. pacemakerd without a corosync to
  // talk to retries for about 15 s and exits.
  await startDaemon(h, ["corosync"]);
  await waitUntil(
    `corosync on ${h.name}`,
    async () => (await output(host, "corosync-cmapctl", ["-g", "totem.cluster_name"])) !== "",
    timeoutMs,
  );
  startPacemaker(h);
}

/**
 * SIGKILL to every host's corosync and Pacemaker daemons at once, for the lab's stop. One host
 * at a time, SIGTERM first, took 13 s (a Pacemaker outlived SIGTERM until the SIGKILL 10 s
 * later), and the hosts still up could take the one going for a failed node and fence it.
 */
export async function killClusterDaemons(layouts: readonly HostLayout[]): Promise<void> {
  const isCluster = (pid: number) =>
    /^(corosync|pacemaker)/.test(commandLine(pid)?.[0]?.split("/").at(-1) ?? "");
  const files = layouts.flatMap(namespaceFiles);
  await waitUntil(
    "the cluster's daemons to exit",
    () => {
      const left = processesIn(files).filter(isCluster);
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      return left.length === 0;
    },
    10_000,
  );
}
