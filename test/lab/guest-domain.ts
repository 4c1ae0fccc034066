// A plain libvirt domain for the lab guest (test/lab/guest.ts), as the COLO recipe wants it:
// TCG, pc-i440fx-7.2, qemu64, 1 vCPU, 256 MiB, one e1000 on QEMU user networking (or the NIC
// given), no disk; ACPI
// only so the kernel finds its tables instead of logging a BIOS error at each boot. Its
// serial console goes to a file under build/lab/console/, so a failed boot can be read.
import { mkdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { BUILD_DIR } from "../support/paths.js";
import { virsh } from "../support/virsh.js";

export const GUEST_CMDLINE = "console=ttyS0 quiet panic=-1";
const CONSOLE_LOG_DIR = join(BUILD_DIR, "lab", "console");

export interface GuestDomainOptions {
  name: string;
  /** Absolute paths, as buildGuest() returns them. */
  kernel: string;
  initrd: string;
  /** The <interface>; default an e1000 on QEMU user networking. */
  nic?: string;
}

const USER_NIC = `<interface type='user'>
      <model type='e1000'/>
    </interface>`;

/** Where the domain's serial console is written; QEMU truncates it at each start. */
export function consoleLogPath(name: string): string {
  return join(CONSOLE_LOG_DIR, `${name}.log`);
}

function xmlText(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll("'", "&apos;");
}

/**
 * The domain XML. Also makes build/lab/console/, which must exist before the domain starts
 * (libvirt creates the log file, not its directory).
 */
export function guestDomainXml(opts: GuestDomainOptions): string {
  // The name also names the console log file.
  if (!/^[\w.-]+$/.test(opts.name)) {
    throw new Error(`a lab guest's name is [A-Za-z0-9_.-]+: ${JSON.stringify(opts.name)}`);
  }
  for (const path of [opts.kernel, opts.initrd]) {
    if (!isAbsolute(path)) throw new Error(`kernel and initrd need absolute paths: ${path}`);
  }
  mkdirSync(CONSOLE_LOG_DIR, { recursive: true });
  return `<domain type='qemu'>
  <name>${opts.name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <kernel>${xmlText(opts.kernel)}</kernel>
    <initrd>${xmlText(opts.initrd)}</initrd>
    <cmdline>${GUEST_CMDLINE}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <devices>
    <controller type='usb' model='none'/>
    ${opts.nic ?? USER_NIC}
    <serial type='file'>
      <source path='${xmlText(consoleLogPath(opts.name))}'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * Forwards 127.0.0.1:hostPort to the running guest's port 80 (QEMU's hostfwd on libvirt's
 * netdev hostnet0): libvirt 9.0 has no declarative port forward for user networking. The
 * forward lasts as long as the QEMU process.
 */
export async function forwardPort(domainName: string, hostPort: number): Promise<void> {
  if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65_535) {
    throw new Error(`not a TCP port: ${hostPort}`);
  }
  const rule = `tcp:127.0.0.1:${hostPort}-:80`;
  const { stdout } = await virsh([
    "qemu-monitor-command",
    domainName,
    "--hmp",
    `hostfwd_add hostnet0 ${rule}`,
  ]);
  // HMP reports a failure as text, with success status.
  if (stdout.trim() !== "") {
    throw new Error(`hostfwd_add ${rule} on ${domainName}: ${stdout.trim()}`);
  }
}
