// One lab host: a netns, and a persistent mount and UTS namespace made from this (the root)
// namespace, with its own /run, /dev/shm, sysfs, an overlay on /etc and private libvirt
// directories; in it a virtlogd, `libvirtd --listen` (TLS) and an sshd of its own.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, cp, mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DAEMON_ENV, type RunOptions, type RunResult, run } from "../../support/exec.js";
import { isAlive } from "../../support/processes.js";
import { acceptsConnection } from "../../support/sockets.js";
import { waitUntil } from "../../support/wait.js";
import { type HostLayout, REPO_DIR } from "./layout.js";
import type { ServerFiles } from "./pki.js";

export const TLS_PORT = 16514;

/** Runs `cmd` on the host: in its netns, mount and UTS namespaces (cwd /). */
export function onHost(
  h: HostLayout,
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run("nsenter", [...nsenterArgs(h), "--", cmd, ...args], opts);
}

/** nsenter's arguments that put a command on the host. */
export const nsenterArgs = (h: HostLayout) => [
  `--net=/run/netns/${h.netns}`,
  `--mount=${h.mntFile}`,
  `--uts=${h.utsFile}`,
];

/** What the host's own files say; written into its layers before they are mounted. */
export interface HostFiles {
  hostUuid: string;
  /** Its TLS server certificate and key; the CA; the client files (for virsh on the host). */
  server: ServerFiles;
  clientPki: string;
  /** Its hosts.conf (how it reaches the other hosts), /etc/hosts lines, pinned keys. */
  hostsConf: string;
  etcHosts: string;
  knownHosts: string;
  authorizedKeys: string;
}

// The host's libvirtd: TLS on its LAN address with the default certificate paths (in its /etc
// overlay); no polkit without a system bus; a UUID of its own, since every libvirtd here reads
// the same SMBIOS UUID and would refuse to migrate to "the same host".
const libvirtdConf = (h: HostLayout, f: HostFiles) => `
# Added by the lab (test/lab/hosts/host.ts).
listen_tls = 1
listen_tcp = 0
listen_addr = "${h.address}"
auth_unix_rw = "none"
auth_tls = "none"
host_uuid = "${f.hostUuid}"
`;

const sshdConfig = (h: HostLayout) => `# Written by the lab (test/lab/hosts/host.ts).
ListenAddress ${h.address}
HostKey /etc/ssh/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/lab_authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
`;

async function write(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFile(path, text, { mode });
}

/** A directory, with its owner and mode as Debian's libvirt package makes it. */
async function dir(path: string, mode: string, owner = "root"): Promise<void> {
  await run("install", ["-d", "-o", owner, "-g", owner, "-m", mode, path]);
}

/** Generates the host's ssh host key; returns its public half. */
export async function makeHostKey(h: HostLayout): Promise<string> {
  const key = join(h.etcUpper, "ssh", "ssh_host_ed25519_key");
  await mkdir(join(h.etcUpper, "ssh"), { recursive: true, mode: 0o755 });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", key]);
  return readFileSync(`${key}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
}

/**
 * The layers' contents: /etc's upper layer, and the private libvirt directories. /var/lib is an
 * overlay too, so that what the product keeps there (the secondary's images) is the host's own.
 */
export async function writeHostFiles(h: HostLayout, f: HostFiles): Promise<void> {
  const etc = (p: string) => join(h.etcUpper, p);
  // The overlay's root takes the upper layer's owner and mode.
  await dir(h.etcUpper, "0755");
  await dir(h.etcWork, "0755");
  await dir(h.varLibUpper, "0755");
  await dir(h.varLibWork, "0755");
  await write(etc("ssh/sshd_config"), sshdConfig(h));
  await write(etc("ssh/lab_authorized_keys"), f.authorizedKeys, 0o600);
  await write(etc("ssh/ssh_known_hosts"), f.knownHosts);
  await write(etc("hosts"), `${readFileSync("/etc/hosts", "utf8")}${f.etcHosts}`);
  await write(etc("hostname"), `${h.name}\n`);
  await write(etc("colo-hybrid/hosts.conf"), f.hostsConf);
  // libvirt's default paths, for its daemon and for clients on the host.
  await dir(etc("pki/libvirt/private"), "0700");
  await dir(etc("pki/CA"), "0755");
  await copyFile(join(f.clientPki, "cacert.pem"), etc("pki/CA/cacert.pem"));
  await copyFile(f.server.cert, etc("pki/libvirt/servercert.pem"));
  await copyFile(f.server.key, etc("pki/libvirt/private/serverkey.pem"));
  await copyFile(join(f.clientPki, "clientcert.pem"), etc("pki/libvirt/clientcert.pem"));
  await copyFile(join(f.clientPki, "clientkey.pem"), etc("pki/libvirt/private/clientkey.pem"));

  // /etc/libvirt: the stock configuration files only (no domains, pools, hooks of this host's).
  await dir(h.libvirtEtc, "0755");
  for (const e of await readdir("/etc/libvirt", { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith(".conf")) {
      await copyFile(join("/etc/libvirt", e.name), join(h.libvirtEtc, e.name));
    }
  }
  const conf = join(h.libvirtEtc, "libvirtd.conf");
  await writeFile(conf, readFileSync(conf, "utf8") + libvirtdConf(h, f));

  await dir(h.libvirtLib, "0755");
  for (const d of ["boot", "images"]) await dir(join(h.libvirtLib, d), "0711");
  for (const d of ["qemu", "qemu/channel", "qemu/channel/target"]) {
    await dir(join(h.libvirtLib, d), "0750", "libvirt-qemu");
  }
  await dir(h.libvirtLog, "0755");
  for (const d of ["qemu", "lxc"]) await dir(join(h.libvirtLog, d), "0755");
  await dir(join(h.libvirtCache, "qemu"), "0711");
  // Seeded with this host's QEMU capabilities (the same binaries), which libvirtd would
  // otherwise probe again at its start; it still probes when they are out of date.
  const caps = "/var/cache/libvirt/qemu/capabilities";
  if (existsSync(caps))
    await cp(caps, join(h.libvirtCache, "qemu/capabilities"), { recursive: true });
}

// Run in the new mount namespace, joined to the host's netns. It drops its copies of the
// namespace files (they would keep other hosts' namespaces alive), then mounts the host's own.
// With agents (dbus_aside and agent_log given), the system bus is carried into the new /run, and
// /var/log/colo-hybrid is the host's own.
const INIT = `set -eu
ns_dir=$1; etc_upper=$2; etc_work=$3; lib_etc=$4; lib_lib=$5; lib_log=$6; lib_cache=$7; name=$8
dbus_aside=$9; agent_log=\${10}; var_lib_upper=\${11}; var_lib_work=\${12}
umount -l "$ns_dir"
if mountpoint -q /run/netns; then umount -l /run/netns; fi
umount -l /sys
mount -t sysfs sysfs /sys
if [ -n "$dbus_aside" ]; then mount --bind /run/dbus "$dbus_aside"; fi
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -n "$dbus_aside" ]; then mkdir /run/dbus; mount --move "$dbus_aside" /run/dbus; fi
mkdir -p /run/libvirt /run/sshd /run/lock
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$etc_upper,workdir=$etc_work" /etc
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$var_lib_upper,workdir=$var_lib_work" /var/lib
mount --bind "$lib_etc" /etc/libvirt
mount --bind "$lib_lib" /var/lib/libvirt
mount --bind "$lib_log" /var/log/libvirt
mount --bind "$lib_cache" /var/cache/libvirt
if [ -n "$agent_log" ]; then
  mkdir -p /var/log/colo-hybrid
  mount --bind "$agent_log" /var/log/colo-hybrid
fi
hostname "$name"
`;

/**
 * The host's mount and UTS namespaces (its netns exists already); nsDir is private. With
 * `agents`, the system bus of this namespace is the host's too, and its agents log in a
 * directory of its own.
 */
export async function makeNamespaces(h: HostLayout, nsDir: string, agents: boolean): Promise<void> {
  await writeFile(h.mntFile, "");
  await writeFile(h.utsFile, "");
  if (agents) {
    for (const d of [h.dbusAside, h.agentLog]) await dir(d, "0750");
  }
  await run("unshare", [
    ...[`--mount=${h.mntFile}`, `--uts=${h.utsFile}`, "--propagation", "private"],
    ...["nsenter", `--net=/run/netns/${h.netns}`, "sh", "-c", INIT, "sh", nsDir],
    ...[h.etcUpper, h.etcWork, h.libvirtEtc, h.libvirtLib, h.libvirtLog, h.libvirtCache, h.name],
    ...(agents ? [h.dbusAside, h.agentLog] : ["", ""]),
    ...[h.varLibUpper, h.varLibWork],
  ]);
}

/** Where the hook's bundles are, and the node that runs them (make install-hook's LIBDIR, NODE). */
export interface HookBundles {
  libDir: string;
  node: string;
}

/**
 * The product's hook, for the checkout's bundles (dist/) as agent.test.ts installs it unless
 * told others, in the host's own /etc/libvirt: its libvirtd runs it, and so starts its domains'
 * agents.
 */
export async function installHook(
  h: HostLayout,
  bundles: HookBundles = { libDir: join(REPO_DIR, "dist"), node: process.execPath },
): Promise<void> {
  await run("make", [
    ...["-C", REPO_DIR, "--no-print-directory", "install-hook"],
    `HOOKDIR=${join(h.libvirtEtc, "hooks", "qemu.d")}`,
    `LIBDIR=${bundles.libDir}`,
    `NODE=${bundles.node}`,
  ]);
}

/**
 * Starts a daemon that forks into the background on the host, and waits for its launcher to
 * exit. Its output goes to a file and it inherits no other descriptor: a pipe it held would
 * keep whoever waits for EOF on it (a test runner, make) waiting for good.
 */
export async function startDaemon(h: HostLayout, argv: string[]): Promise<void> {
  const what = argv[0]?.split("/").at(-1) ?? "";
  const log = join(h.dir, `${what}.out`);
  const fd = openSync(log, "a");
  try {
    const child = spawn("nsenter", [...nsenterArgs(h), "--", ...argv], {
      env: DAEMON_ENV,
      stdio: ["ignore", fd, fd],
    });
    const status = await new Promise<string>((resolve) => {
      child.once("error", (e) => resolve(e.message));
      child.once("exit", (code, signal) => resolve(code === 0 ? "" : `${code ?? signal}`));
    });
    if (status !== "") {
      throw new Error(
        `${what} on ${h.name} failed (${status}): ${readFileSync(log, "utf8").trim()}`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

/** virtlogd, libvirtd (TLS on its address) and sshd, each answering. */
export async function startDaemons(h: HostLayout, timeoutMs: number): Promise<void> {
  await startDaemon(h, ["virtlogd", "-d"]);
  await startDaemon(h, ["libvirtd", "-d", "--listen"]);
  await startDaemon(h, ["/usr/sbin/sshd", "-E", join(h.dir, "sshd.log")]);
  await waitUntil(
    `libvirtd and sshd on ${h.name}`,
    async () =>
      (await acceptsConnection({ host: h.address, port: TLS_PORT })) &&
      (await acceptsConnection({ host: h.address, port: 22 })) &&
      (await onHost(h, "virsh", ["-q", "-c", "qemu:///system", "uri"])).stdout.trim() ===
        "qemu:///system",
    timeoutMs,
    100,
  );
}

/** The device and inode of a namespace file, or undefined when it is not one. */
function nsId(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** Live processes in any of these namespaces (netns, mount namespace), from /proc. */
export function processesIn(nsFiles: readonly string[]): number[] {
  const ids = new Set(nsFiles.map(nsId).filter((id) => id !== undefined));
  if (ids.size === 0) return [];
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) =>
      ["net", "mnt"].some((ns) => {
        const id = nsId(`/proc/${pid}/ns/${ns}`);
        return id !== undefined && ids.has(id);
      }),
    )
    .filter(isAlive);
}

/** Ends every process of the host: SIGTERM, then SIGKILL for what is left after a while. */
export function killHostProcesses(h: HostLayout): Promise<void> {
  return killProcessesIn(h.name, [`/run/netns/${h.netns}`, h.mntFile]);
}

/**
 * Ends every process in these namespaces (`what` names them): SIGTERM, then SIGKILL; or, with
 * `signals` ["SIGKILL"], at once, as a power cut would.
 */
export async function killProcessesIn(
  what: string,
  files: readonly string[],
  signals: readonly ("SIGTERM" | "SIGKILL")[] = ["SIGTERM", "SIGKILL"],
): Promise<void> {
  const kill = (pids: number[], signal: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone meanwhile.
      }
    }
  };
  for (const signal of signals) {
    kill(processesIn(files), signal);
    try {
      await waitUntil(
        `the processes of ${what} to exit`,
        () => {
          const left = processesIn(files);
          // A supervisor (pacemakerd) may have forked a new child before its own SIGKILL.
          if (signal === "SIGKILL") kill(left, signal);
          return left.length === 0;
        },
        10_000,
      );
      return;
    } catch (e) {
      if (signal === "SIGKILL") throw e;
    }
  }
}
