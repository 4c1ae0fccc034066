// `make lab-hosts`: two (or three) libvirt hosts on this machine, each a network namespace with
// a mount namespace of its own running its own virtlogd, libvirtd and sshd, on one LAN bridge.
// Each is reachable from the others and from this host over qemu+ssh (pinned host keys) and
// qemu+tls (verified against the lab's CA). Everything lives under build/lab-hosts/, and what
// a start made is written down first (state.ts): stopLabHosts removes it all, also after a
// failed start; a start first stops the lab that runs.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { RunOptions, RunResult } from "../../support/exec.js";
import { run } from "../../support/exec.js";
import { ensureSystemBus } from "../../support/system-bus.js";
import type { LabBridge } from "../bridge.js";
import { killClusterDaemons } from "./cluster.js";
import { undoAllFaults } from "./faults.js";
import {
  type HookBundles,
  installHook,
  killHostProcesses,
  killProcessesIn,
  makeHostKey,
  makeNamespaces,
  onHost,
  startDaemons,
  writeHostFiles,
} from "./host.js";
import {
  CLIENT_PKI,
  GUEST_BRIDGE,
  HOSTS_CONF_FILE,
  hostLayout,
  KNOWN_HOSTS,
  LAB_DIR,
  LAN_NETNS,
  MAX_HOSTS,
  NS_DIR,
  SSH_KEY,
} from "./layout.js";
import {
  addGuestLan,
  addHostGuestBridge,
  addHostNetns,
  addLan,
  addRootLink,
  GUEST_LAN_CLIENT,
  removeGuestLan,
  removeHostGuestBridge,
  removeNetns,
  removeRootLink,
} from "./network.js";
import { makeLabPki } from "./pki.js";
import { EMPTY_STATE, type LabState, readState, record } from "./state.js";

export interface LabHost {
  /** Its host name (colo-lab-a, ...), also its netns's name. */
  name: string;
  /** Its address on the lab's LAN. */
  address: string;
  /** The URIs others reach its libvirtd by: no parameters (hosts.conf gives them). */
  sshUri: string;
  tlsUri: string;
  /** Its libvirtd's host_uuid (each host's differs). */
  hostUuid: string;
  /** Its own /etc/colo-hybrid/hosts.conf: how it reaches the other hosts. */
  hostsConf: string;
  /** Runs a command on the host (its namespaces; cwd /: give absolute paths). */
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export interface LabHosts {
  hosts: LabHost[];
  /** How this host reaches every lab host, in hosts.conf's format; and that file. */
  hostsConf: string;
  hostsConfFile: string;
  /** The client's key (authorized for root on every host), pinned host keys and pkipath. */
  sshKey: string;
  knownHosts: string;
  pkipath: string;
  /** With guestLan. */
  guestLan: GuestLan | undefined;
}

/** The guests' LAN: one L2 segment of every host's guest bridge and a client (10.0.2.2). */
export interface GuestLan {
  /** On each host, for <source bridge=...> (its own bridge, joined to the others'). */
  bridge: string;
  /** The client's namespace on the LAN, and its ways to the guest (10.0.2.15). */
  client: Pick<LabBridge, "netns" | "inClient" | "get" | "forward">;
}

export interface LabHostsOptions {
  /** 2 (default) or 3. */
  count?: number;
  /** To wait for each host's daemons, ms. */
  timeoutMs?: number;
  /** The guests' LAN (GuestLan). */
  guestLan?: boolean;
  /**
   * Each host runs the product's agents: the hook for the checkout's bundles (or those `hook`
   * names) in its /etc/libvirt, this machine's system bus in its /run (bus names are per domain,
   * so the hosts can share it), its own /var/log/colo-hybrid.
   */
  agents?: boolean;
  /** The bundles the hook runs, and with which node: the packages' for the demo. */
  hook?: HookBundles;
}

/** hosts.conf sections for reaching `hosts` (by address: TLS clients must dial the IP). */
function hostsConf(hosts: readonly { address: string }[]): string {
  const sections = hosts.map(
    (h) =>
      `[${h.address}]\nkeyfile = ${SSH_KEY}\nknown_hosts = ${KNOWN_HOSTS}\npkipath = ${CLIENT_PKI}\n`,
  );
  return `# Written by make lab-hosts (test/lab/hosts/): how to reach the lab hosts.\n${sections.join("\n")}`;
}

export async function startLabHosts(opts: LabHostsOptions = {}): Promise<LabHosts> {
  const count = opts.count ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new Error(`the lab has 1 to ${MAX_HOSTS} hosts, not ${count}`);
  }
  await stopLabHosts();
  let state = record(EMPTY_STATE, {});
  try {
    return await build(count, opts, (change) => {
      state = record(state, change);
    });
  } catch (e) {
    try {
      await stopLabHosts();
    } catch (stopError) {
      const why = `${(e as Error).message}\n(and stopping the lab failed: ${(stopError as Error).message})`;
      throw new Error(why, { cause: e });
    }
    throw e;
  }
}

async function build(
  count: number,
  opts: LabHostsOptions,
  note: (change: Partial<LabState>) => void,
): Promise<LabHosts> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const agents = opts.agents === true;
  if (agents) await ensureSystemBus();
  const layouts = Array.from({ length: count }, (_, i) => hostLayout(i));
  const pki = await makeLabPki(layouts);
  await mkdir(dirname(SSH_KEY), { recursive: true, mode: 0o700 });
  await run("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "colo-lab-client",
    "-f",
    SSH_KEY,
  ]);
  const authorizedKeys = readFileSync(`${SSH_KEY}.pub`, "utf8");
  const hostKeys = await Promise.all(layouts.map(makeHostKey));
  const knownHosts = layouts.map((h, i) => `${h.address},${h.name} ${hostKeys[i]}\n`).join("");
  await writeFile(KNOWN_HOSTS, knownHosts);
  const etcHosts = layouts.map((h) => `${h.address} ${h.name}\n`).join("");
  const rootConf = hostsConf(layouts);
  await writeFile(HOSTS_CONF_FILE, rootConf, { mode: 0o644 });

  // The namespace files' directory must not propagate mounts, or unshare cannot bind them.
  note({ nsDir: true });
  await mkdir(NS_DIR, { recursive: true, mode: 0o755 });
  await run("mount", ["--bind", NS_DIR, NS_DIR]);
  await run("mount", ["--make-private", NS_DIR]);
  note({ lan: true });
  await addLan();
  note({ rootLink: true });
  await addRootLink();
  let guestLan: GuestLan | undefined;
  if (opts.guestLan) {
    note({ guestLan: true });
    const { netns, inClient, get, forward } = await addGuestLan();
    guestLan = { bridge: GUEST_BRIDGE, client: { netns, inClient, get, forward } };
  }

  note({ hosts: layouts.map((_, i) => i) });
  const hosts = layouts.map((h) => {
    const others = layouts.filter((o) => o !== h);
    return {
      name: h.name,
      address: h.address,
      sshUri: `qemu+ssh://root@${h.address}/system`,
      tlsUri: `qemu+tls://${h.address}/system`,
      hostUuid: randomUUID(),
      hostsConf: hostsConf(others),
      run: (cmd: string, args: readonly string[], o?: RunOptions) => onHost(h, cmd, args, o),
    };
  });
  const made = await Promise.allSettled(
    layouts.map(async (h, i) => {
      const host = hosts[i] as LabHost;
      await writeHostFiles(h, {
        hostUuid: host.hostUuid,
        server: pki.servers.get(h.name) as { cert: string; key: string },
        clientPki: CLIENT_PKI,
        hostsConf: host.hostsConf,
        etcHosts,
        knownHosts,
        authorizedKeys,
      });
      await addHostNetns(h);
      if (guestLan) await addHostGuestBridge(h);
      if (agents) await installHook(h, opts.hook);
      await makeNamespaces(h, NS_DIR, agents);
      await startDaemons(h, timeoutMs);
    }),
  );
  const failed = made.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return {
    hosts,
    hostsConf: rootConf,
    hostsConfFile: HOSTS_CONF_FILE,
    sshKey: SSH_KEY,
    knownHosts: KNOWN_HOSTS,
    pkipath: CLIENT_PKI,
    guestLan,
  };
}

/** Mount points of this (the root) mount namespace at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m): m is string => m !== undefined)
    .map((m) =>
      m.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    )
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

async function umount(path: string): Promise<void> {
  if (mountsUnder(path).includes(path)) await run("umount", [path]);
}

/** Removes what the recorded start made, hosts first; nothing when no lab runs. */
export async function stopLabHosts(): Promise<void> {
  const state = readState();
  if (state === undefined && !existsSync(LAB_DIR)) return;
  const { hosts, lan, rootLink, guestLan, nsDir } = state ?? EMPTY_STATE;
  await undoAllFaults();
  await killClusterDaemons(hosts.map(hostLayout));
  for (const h of hosts.map(hostLayout)) {
    await killHostProcesses(h);
    await umount(h.mntFile);
    await umount(h.utsFile);
    await removeNetns(h.netns);
    if (guestLan) await removeHostGuestBridge(h);
  }
  if (guestLan) {
    // Forwarders the test left (SIGTERM: each removes its socket).
    await killProcessesIn(GUEST_LAN_CLIENT, [`/run/netns/${GUEST_LAN_CLIENT}`]);
    await removeGuestLan();
  }
  if (rootLink) await removeRootLink();
  if (lan) await removeNetns(LAN_NETNS);
  if (nsDir) await umount(NS_DIR);
  const left = mountsUnder(LAB_DIR);
  if (left.length > 0)
    throw new Error(`still mounted, not removing ${LAB_DIR}: ${left.join(", ")}`);
  await rm(LAB_DIR, { recursive: true, force: true });
}
