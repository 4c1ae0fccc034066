// A real OpenSSH server on 127.0.0.1 for qemu+ssh tests: a child process in the foreground with
// its own config, host key and authorized client key under build/test-ssh/, root by key only.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hasExited, watchDaemon } from "./daemon.js";
import { DAEMON_ENV, run } from "./exec.js";
import { BUILD_DIR } from "./paths.js";
import { freePort } from "./sockets.js";

const SSH_DIR = join(BUILD_DIR, "test-ssh");
const HOST_KEY = join(SSH_DIR, "ssh_host_ed25519_key");
const CLIENT_KEY = join(SSH_DIR, "id_ed25519");
const AUTHORIZED_KEYS = join(SSH_DIR, "authorized_keys");
const CONFIG = join(SSH_DIR, "sshd_config");

export interface Sshd {
  port: number;
  pid: number;
  /** The client's private key, authorized for root. */
  identityFile: string;
  /** Holds the host key for [127.0.0.1]:PORT, for StrictHostKeyChecking=yes. */
  knownHostsFile: string;
  /**
   * /usr/bin/ssh pinned to knownHostsFile with StrictHostKeyChecking=yes, for the `command=`
   * parameter of a qemu+ssh URI: libvirt 9.0 hands OpenSSH no known_hosts file of its own.
   */
  sshCommand: string;
  /** What sshd logged so far (-e: to stderr). */
  log(): string;
  /** Ends sshd by its pid and waits for it; removes the per-instance files. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  timeoutMs?: number;
}

function quoteSh(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

async function ensureKey(file: string, comment: string): Promise<void> {
  if (existsSync(file) && existsSync(`${file}.pub`)) return;
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
}

const SSHD_CONFIG = `# Written by colo-hybrid's test harness (test/support/sshd.ts); the port comes with -p.
ListenAddress 127.0.0.1
HostKey "${HOST_KEY}"
AuthorizedKeysFile "${AUTHORIZED_KEYS}"
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile none
# The keys live in the repository's build tree, whose parent directories sshd would otherwise
# have to find writable by root alone.
StrictModes no
`;

async function prepare(): Promise<void> {
  await mkdir(SSH_DIR, { recursive: true, mode: 0o700 });
  // sshd's privilege separation directory; normally made by the init system.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await ensureKey(HOST_KEY, "colo-hybrid-test-host");
  await ensureKey(CLIENT_KEY, "colo-hybrid-test-client");
  await writeFile(AUTHORIZED_KEYS, await readFile(`${CLIENT_KEY}.pub`), { mode: 0o600 });
  await writeFile(CONFIG, SSHD_CONFIG);
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  await prepare();
  const port = await freePort();
  const instanceDir = await mkdtemp(join(SSH_DIR, `port-${port}-`));
  const knownHostsFile = join(instanceDir, "known_hosts");
  const hostKey = (await readFile(`${HOST_KEY}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);
  const sshCommand = join(instanceDir, "ssh");
  const ssh = [
    "exec /usr/bin/ssh -F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes",
    `-o UserKnownHostsFile=${quoteSh(knownHostsFile)} "$@"`,
  ];
  await writeFile(
    sshCommand,
    `#!/bin/sh\n# ssh for a qemu+ssh URI's command= parameter (test/support/sshd.ts).\n${ssh.join(" ")}\n`,
  );
  await chmod(sshCommand, 0o755);

  // sshd re-executes itself and insists on an absolute path for that.
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", CONFIG, "-p", String(port)], {
    env: DAEMON_ENV,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const daemon = watchDaemon(child);

  const stop = async (): Promise<void> => {
    daemon.forget();
    if (!hasExited(child)) {
      child.kill("SIGTERM");
      if (!(await exited(child, 5_000))) {
        child.kill("SIGKILL");
        await exited(child, 5_000);
      }
    }
    await rm(instanceDir, { recursive: true, force: true });
  };

  await daemon.listening("sshd", port, timeoutMs, stop);
  if (child.pid === undefined) throw new Error("sshd has no pid");
  return {
    port,
    pid: child.pid,
    identityFile: CLIENT_KEY,
    knownHostsFile,
    sshCommand,
    log: daemon.log,
    stop,
  };
}
