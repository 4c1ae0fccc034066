// The monolithic libvirtd of Debian 12 (libvirt 9.0; no modular virtqemud sockets here), started
// by hand since there is no systemd: with a config of ours that adds a TLS listener on
// 127.0.0.1 with the test PKI, everything else at libvirt's defaults (unix sockets in
// /run/libvirt, root needs no authentication on them). Also the virtlogd it logs QEMU through.
import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, chown, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CommandError, DAEMON_ENV, run } from "./exec.js";
import { BUILD_DIR } from "./paths.js";
import { makeTestPki, type TestPki } from "./pki.js";
import { commandLine, daemonPid, waitGone } from "./processes.js";
import { acceptsConnection, freePort, portIsFree } from "./sockets.js";
import { ensureSystemBus } from "./system-bus.js";
import { SYSTEM_URI, virsh } from "./virsh.js";
import { waitUntil } from "./wait.js";

const LIBVIRTD_SOCKET = "/run/libvirt/libvirt-sock";
const PID_FILE = "/run/libvirtd.pid";
const VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock";
/** libvirtd's default log output when it runs as a daemon without journald. */
const LOG_FILE = "/var/log/libvirt/libvirtd.log";
const CONFIG_FILE = join(BUILD_DIR, "test-libvirtd", "libvirtd.conf");
const DEFAULT_TLS_PORT = 16514;

export interface LibvirtdOptions {
  /** TLS port; default: the one we used last when free, else 16514 when free, else any. */
  tlsPort?: number;
  timeoutMs?: number;
}

export interface Libvirtd {
  pid: number;
  /** qemu:///system, over the unix socket. */
  uri: string;
  tlsPort: number;
  /** qemu+tls://127.0.0.1:PORT/system?pkipath=..., with the test client certificate. */
  tlsUri: string;
  pki: TestPki;
  configFile: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

function renderConfig(tlsPort: number, pki: TestPki): string {
  return `# Written by colo-hybrid's test harness (test/support/libvirtd.ts).
# Only the TLS listener differs from libvirtd's defaults; it needs libvirtd --listen.
listen_tls = 1
listen_tcp = 0
listen_addr = "127.0.0.1"
tls_port = "${tlsPort}"
key_file = "${pki.serverKey}"
cert_file = "${pki.serverCert}"
ca_file = "${pki.caCert}"
`;
}

function configuredPort(): number | undefined {
  if (!existsSync(CONFIG_FILE)) return undefined;
  const m = /^tls_port = "(\d+)"$/m.exec(readFileSync(CONFIG_FILE, "utf8"));
  return m ? Number(m[1]) : undefined;
}

function libvirtdInfo(pid: number, tlsPort: number, pki: TestPki): Libvirtd {
  const tlsUri = `qemu+tls://127.0.0.1:${tlsPort}/system?pkipath=${pki.dir}`;
  return { pid, uri: SYSTEM_URI, tlsPort, tlsUri, pki, configFile: CONFIG_FILE };
}

function startedWithOurConfig(pid: number): boolean {
  const argv = commandLine(pid) ?? [];
  const f = argv.indexOf("-f");
  return f >= 0 && argv[f + 1] === CONFIG_FILE && argv.includes("--listen");
}

/**
 * libvirt trusts its cached QEMU capabilities only while /dev/kvm is as usable by the QEMU
 * user (libvirt-qemu, group kvm) as when they were probed. Without udev the node stays
 * root-only, and every capabilities lookup probes QEMU again: seconds per call, 40 s for a
 * `virsh define`. Give group kvm the access udev's rule gives it on an ordinary host.
 */
async function ensureKvmGroupAccess(): Promise<void> {
  if (!existsSync("/dev/kvm")) return;
  const kvm = /^kvm:[^:]*:(\d+):/m.exec(await readFile("/etc/group", "utf8"));
  if (!kvm) return;
  const gid = Number(kvm[1]);
  const st = statSync("/dev/kvm");
  if (st.gid === gid && (st.mode & 0o060) === 0o060) return;
  await chown("/dev/kvm", st.uid, gid);
  await chmod("/dev/kvm", (st.mode & 0o777) | 0o060);
}

async function ensureVirtlogd(timeoutMs: number): Promise<void> {
  if (await acceptsConnection(VIRTLOGD_SOCKET)) return;
  await run("virtlogd", ["-d"], { timeoutMs, env: DAEMON_ENV });
  await waitUntil(
    `virtlogd at ${VIRTLOGD_SOCKET}`,
    () => acceptsConnection(VIRTLOGD_SOCKET),
    timeoutMs,
  );
}

/** True once the daemon serves the QEMU driver on the unix socket and listens for TLS. */
async function answers(port: number, timeoutMs: number): Promise<boolean> {
  await virsh(["list", "--all", "--name"], { timeoutMs });
  return acceptsConnection({ host: "127.0.0.1", port });
}

function logSize(): number {
  return existsSync(LOG_FILE) ? statSync(LOG_FILE).size : 0;
}

async function logSince(offset: number): Promise<string> {
  if (!existsSync(LOG_FILE)) return "";
  const file = await open(LOG_FILE, "r");
  try {
    const { buffer, bytesRead } = await file.read({
      buffer: Buffer.alloc(Math.max(0, logSize() - offset)),
      position: offset,
    });
    return buffer.subarray(0, bytesRead).toString("utf8").trim();
  } finally {
    await file.close();
  }
}

async function launch(port: number, pki: TestPki, timeoutMs: number): Promise<number> {
  await mkdir(join(BUILD_DIR, "test-libvirtd"), { recursive: true });
  await writeFile(CONFIG_FILE, renderConfig(port, pki));
  const logOffset = logSize();
  try {
    // -d returns once the daemon has set up its sockets, with status 1 when it could not.
    await run("libvirtd", ["-d", "-f", CONFIG_FILE, "--listen"], { timeoutMs, env: DAEMON_ENV });
  } catch (e) {
    const log = await logSince(logOffset);
    const detail = log ? `\n${LOG_FILE} says:\n${log}` : "";
    throw new Error(`${e instanceof Error ? e.message : e}${detail}`, { cause: e });
  }
  const pid = daemonPid(PID_FILE, "libvirtd");
  if (pid === undefined) throw new Error(`libvirtd started but ${PID_FILE} names no live libvirtd`);
  await waitUntil(
    `libvirtd (pid ${pid}) to answer on ${LIBVIRTD_SOCKET} and TLS port ${port}`,
    () => answers(port, timeoutMs),
    timeoutMs,
    200,
  );
  return pid;
}

/** The port we used last (URIs in use stay valid across restarts), else 16514, else any. */
async function choosePort(): Promise<number> {
  for (const port of [configuredPort(), DEFAULT_TLS_PORT]) {
    if (port !== undefined && (await portIsFree(port))) return port;
  }
  return freePort();
}

/** Our libvirtd if it runs, is configured as asked and answers over TLS with today's PKI. */
async function reusable(pki: TestPki, wanted: number | undefined): Promise<Libvirtd | undefined> {
  const pid = daemonPid(PID_FILE, "libvirtd");
  const port = configuredPort();
  if (pid === undefined || port === undefined || !startedWithOurConfig(pid)) return undefined;
  if (
    (wanted !== undefined && wanted !== port) ||
    readFileSync(CONFIG_FILE, "utf8") !== renderConfig(port, pki)
  ) {
    return undefined;
  }
  const info = libvirtdInfo(pid, port, pki);
  try {
    await virsh(["list", "--name"], { uri: info.tlsUri, timeoutMs: 30_000 });
  } catch (e) {
    if (e instanceof CommandError) return undefined;
    throw e;
  }
  return info;
}

/**
 * A libvirtd running with our config, answering: the one already running when it is ours,
 * else a fresh one (any other libvirtd is stopped first). Also starts the system bus and
 * virtlogd when they are not running.
 */
export async function startLibvirtd(opts: LibvirtdOptions = {}): Promise<Libvirtd> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await ensureSystemBus(timeoutMs);
  await ensureVirtlogd(timeoutMs);
  await ensureKvmGroupAccess();
  const pki = await makeTestPki();
  const running = await reusable(pki, opts.tlsPort);
  if (running) return running;
  await stopLibvirtd({ timeoutMs });
  const port = opts.tlsPort ?? (await choosePort());
  return libvirtdInfo(await launch(port, pki, timeoutMs), port, pki);
}

/** SIGTERM to the running libvirtd (ours or not), then waits until it is gone. */
export async function stopLibvirtd(opts: { timeoutMs?: number } = {}): Promise<void> {
  const pid = daemonPid(PID_FILE, "libvirtd");
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  await waitGone(pid, "libvirtd", opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

/** SIGKILL to the running libvirtd, as a crash would end it; waits until it is gone. */
export async function killLibvirtd(opts: { timeoutMs?: number } = {}): Promise<void> {
  const pid = daemonPid(PID_FILE, "libvirtd");
  if (pid === undefined) throw new Error(`no libvirtd to kill: ${PID_FILE} names no live libvirtd`);
  process.kill(pid, "SIGKILL");
  await waitGone(pid, "libvirtd", opts.timeoutMs ?? 10_000);
}

/** Stops the running libvirtd and starts ours; running domains stay (libvirtd reattaches). */
export async function restartLibvirtd(opts: LibvirtdOptions = {}): Promise<Libvirtd> {
  await stopLibvirtd(opts);
  return startLibvirtd(opts);
}
