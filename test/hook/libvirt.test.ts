// The hook under the real libvirtd, installed in /etc/libvirt/hooks/qemu.d/. libvirtd looks for
// hooks only when it starts, so this file restarts it twice: to see the hook, and, with the hook
// removed, so that other tests do not. The supervisor runs the stand-in agent (installed.ts).
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pidFile } from "../../src/hook/paths.js";
import { CommandError } from "../support/exec.js";
import { commandLine, waitGone } from "../support/processes.js";
import {
  defineTestDomain,
  restartLibvirtd,
  startLibvirtd,
  TEST_DOMAIN_PREFIX,
  virsh,
} from "../support/services.js";
import { waitUntil } from "../support/wait.js";
import {
  CANARY,
  domainXml,
  HOSTILE_NAMES,
  INVALID_METADATA,
  metadataElement,
  newUuid,
  removeDomain,
} from "./domains.js";
import { InstalledHook } from "./installed.js";

const HOOK_DIR = "/etc/libvirt/hooks/qemu.d";
const uuids: string[] = [];
const xmlDir = mkdtempSync(join(tmpdir(), "colo-hybrid-hook-domains-"));
let hook: InstalledHook | undefined;
/** Protected before the hook was installed, and running when libvirtd restarts. */
let early: string;

/** Defines a domain, by UUID: the name goes into the XML only. */
async function define(name: string, metadata?: string): Promise<string> {
  const uuid = newUuid();
  uuids.push(uuid);
  const file = join(xmlDir, `${uuid}.xml`);
  writeFileSync(file, domainXml(name, uuid, metadata));
  await virsh(["define", file]);
  return uuid;
}

async function supervisorOf(uuid: string): Promise<number> {
  const pids = () => hook?.supervisors(uuid) ?? [];
  await waitUntil(`the supervisor of ${uuid}`, () => pids().length === 1, 15_000, 50);
  return pids()[0] as number;
}

/** Destroys the domain; its supervisor and agent end, and its pid file goes. */
async function destroyed(uuid: string, pids: number[]): Promise<void> {
  await virsh(["destroy", uuid]);
  for (const pid of pids) await waitGone(pid, "supervisor or agent", 15_000);
  expect(existsSync(pidFile(uuid))).toBe(false);
}

beforeAll(async () => {
  await startLibvirtd();
  early = await define(`${TEST_DOMAIN_PREFIX}early`, metadataElement());
  await virsh(["start", early]);
  hook = InstalledHook.install({ hookDir: HOOK_DIR });
  await restartLibvirtd();
}, 180_000);

afterAll(async () => {
  try {
    for (const uuid of uuids) await removeDomain(uuid);
  } finally {
    if (hook !== undefined) rmSync(hook.path, { force: true });
    // qemu.d is install-hook's (libvirt's package ships only /etc/libvirt/hooks).
    if (existsSync(HOOK_DIR) && readdirSync(HOOK_DIR).length === 0) rmdirSync(HOOK_DIR);
    try {
      await restartLibvirtd();
    } finally {
      await hook?.remove(uuids);
      rmSync(xmlDir, { recursive: true, force: true });
    }
  }
}, 180_000);

describe("the hook under libvirtd", () => {
  it("starts the agent of a protected domain libvirtd finds running, and stops it", async () => {
    const supervisor = await supervisorOf(early);
    const agent = (await hook?.agentRuns(early)) as number;
    expect(commandLine(agent)?.slice(2)).toEqual(["agent", "--uuid", early.replaceAll("-", "")]);
    await destroyed(early, [supervisor, agent]);
  });

  it("starts one agent per protected domain, whatever its name, and stops it with the domain", async () => {
    for (const name of HOSTILE_NAMES) {
      const uuid = await define(name, metadataElement());
      await virsh(["start", uuid]);
      const supervisor = await supervisorOf(uuid);
      const agent = (await hook?.agentRuns(uuid)) as number;
      await destroyed(uuid, [supervisor, agent]);
      await removeDomain(uuid);
    }
    for (const canary of [`/${CANARY}`, `/tmp/${CANARY}`, join(process.cwd(), CANARY)]) {
      expect(existsSync(canary)).toBe(false);
    }
  }, 180_000);

  it("refuses to start a domain with invalid metadata, and virsh says why", async () => {
    const uuid = await define(`${TEST_DOMAIN_PREFIX}invalid`, INVALID_METADATA);
    const error = await virsh(["start", uuid]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    const stderr = (error as CommandError).stderr;
    expect(stderr).toContain(
      `colo-hybrid: domain '${TEST_DOMAIN_PREFIX}invalid' has invalid colo-hybrid metadata`,
    );
    expect(stderr).toContain('hybrid/role: role="tertiary" is not allowed: primary or secondary');
    expect((await virsh(["domstate", uuid])).stdout.trim()).toBe("shut off");
    expect(hook?.supervisors(uuid)).toEqual([]);
  });

  it("leaves other domains alone", async () => {
    const plain = await defineTestDomain();
    try {
      const uuid = plain.uuid;
      expect(existsSync(pidFile(uuid))).toBe(false);
      expect(hook?.supervisors(uuid)).toEqual([]);
    } finally {
      await plain.destroy();
    }
  });
});
