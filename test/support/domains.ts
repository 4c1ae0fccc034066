// Tiny throw-away domains: TCG (guests do not boot under this host's KVM), 64 MiB, no disk, no
// NIC, no display. SeaBIOS finds nothing to boot and idles, which is all QMP and
// suspend/resume tests need.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandError } from "./exec.js";
import { virsh } from "./virsh.js";

export const TEST_DOMAIN_PREFIX = "colo-hybrid-test-";

export interface TestDomain {
  name: string;
  uuid: string;
  /** The live XML (`virsh dumpxml`) right after the start, with libvirt's defaults filled in. */
  xml: string;
  /** Destroys (when running) and undefines it; a domain already gone is fine. */
  destroy(): Promise<void>;
}

export interface TestDomainOptions {
  paused?: boolean;
}

/** A tiny TCG domain; `devices` go before its serial port (e.g. a NIC). */
export function testDomainXml(name: string, devices = ""): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <controller type='usb' model='none'/>${devices}
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** virsh's words for "there is nothing to do": the domain is not running, or not there at all. */
const ALREADY_DONE = /domain is not running|failed to get domain|Domain not found/;

async function ignoringAlreadyDone(step: Promise<unknown>): Promise<void> {
  try {
    await step;
  } catch (e) {
    if (!(e instanceof CommandError && ALREADY_DONE.test(e.stderr))) throw e;
  }
}

async function removeDomain(name: string): Promise<void> {
  await ignoringAlreadyDone(virsh(["destroy", name]));
  await ignoringAlreadyDone(virsh(["undefine", name]));
}

/** Defines (persistent) and starts a test domain with a unique name under TEST_DOMAIN_PREFIX. */
export async function defineTestDomain(
  name = `${TEST_DOMAIN_PREFIX}${randomBytes(4).toString("hex")}`,
  opts: TestDomainOptions = {},
): Promise<TestDomain> {
  // The prefix is what cleanupTestDomains goes by; the name goes into XML unescaped.
  if (!name.startsWith(TEST_DOMAIN_PREFIX) || !/^[\w.-]+$/.test(name)) {
    throw new Error(`a test domain name is ${TEST_DOMAIN_PREFIX} and [A-Za-z0-9_.-]: ${name}`);
  }
  const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-domain-"));
  try {
    const file = join(dir, `${name}.xml`);
    await writeFile(file, testDomainXml(name));
    await virsh(["define", file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  try {
    await virsh(["start", name, ...(opts.paused ? ["--paused"] : [])]);
    const uuid = (await virsh(["domuuid", name])).stdout.trim();
    const xml = (await virsh(["dumpxml", name])).stdout;
    return { name, uuid, xml, destroy: () => removeDomain(name) };
  } catch (e) {
    await removeDomain(name);
    throw e;
  }
}

/** Removes every domain named TEST_DOMAIN_PREFIX*, running or not: leftovers of a failed run. */
export async function cleanupTestDomains(): Promise<string[]> {
  const names = (await virsh(["list", "--all", "--name"])).stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((n) => n.startsWith(TEST_DOMAIN_PREFIX));
  for (const name of names) await removeDomain(name);
  return names;
}
