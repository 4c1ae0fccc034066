// The hook under the real libvirtd, installed in /etc/libvirt/hooks/qemu.d/. libvirtd looks for
// hooks only when it starts, so this file restarts it twice: to see the hook, and, with the hook
// removed, so that other tests do not. The supervisor runs the stand-in agent (installed.ts).

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CONFIG } from "../../src/agent/exit-status.js";
import { pidFile } from "../../src/hook/paths.js";
import { AGENT_NODE_OPTIONS } from "../../src/hook/pidfile.js";
import { ensureUser } from "../dbus/host.js";
import { CommandError } from "../support/exec.js";
import { HOSTILE_PEER_URIS } from "../support/hostile-uris.js";
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
const READER = "colo-hybrid-test-reader";
/** The real agent, as the package installs it (dist/, built by the test setup). */
const AGENT_BUNDLE = "dist/colo-hybrid.mjs";

/** Our valid metadata, its peer URI replaced by `uri` as it is (formatMetadata would refuse it). */
function withPeerUri(uri: string): string {
  const attr = uri.replace(/[&<>"\n\t\r]/g, (c) => `&#${c.charCodeAt(0)};`);
  return metadataElement().replace('uri="qemu:///system"', () => `uri="${attr}"`);
}
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
    expect(commandLine(agent)?.slice(2 + AGENT_NODE_OPTIONS.length)).toEqual([
      "agent",
      "--supervised",
      "--uuid",
      early.replaceAll("-", ""),
    ]);
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

  it("refuses every peer URI off the allow-list at prepare, for a member of group libvirt, and runs none", async () => {
    await ensureUser(READER, true);
    // A directory the user may read the domain XML from; the "binary" the URIs name marks a run.
    const shared = mkdtempSync(join(tmpdir(), "colo-hybrid-hostile-"));
    chmodSync(shared, 0o755);
    const marker = join(shared, "ran");
    const evil = join(shared, "evil.sh");
    writeFileSync(evil, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    try {
      for (const [i, hostile] of HOSTILE_PEER_URIS.entries()) {
        const uri = hostile.replaceAll("/tmp/evil.sh", evil);
        const name = `${TEST_DOMAIN_PREFIX}uri-${i}`;
        const uuid = newUuid();
        uuids.push(uuid);
        const file = join(shared, `${uuid}.xml`);
        writeFileSync(file, domainXml(name, uuid, withPeerUri(uri)), { mode: 0o644 });
        await virsh(["define", file], { user: READER });
        const error = await virsh(["start", uuid], { user: READER }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, uri).toBeInstanceOf(CommandError);
        const stderr = (error as CommandError).stderr;
        expect(stderr).toContain(`colo-hybrid: domain '${name}' has invalid colo-hybrid metadata`);
        expect(stderr).toMatch(/hybrid\/peer\/@uri: uri=".*" is not allowed \(/);
        expect((await virsh(["domstate", uuid])).stdout.trim()).toBe("shut off");
        // The agent, were it started on such a domain by hand, refuses it the same way.
        const agent = spawnSync(process.execPath, [AGENT_BUNDLE, "agent", "--uuid", uuid], {
          encoding: "utf8",
          timeout: 30_000,
        });
        expect(agent.status, uri).toBe(EXIT_CONFIG);
        expect(agent.stderr).toContain("has invalid colo-hybrid metadata: hybrid/peer/@uri: uri=");
        await removeDomain(uuid);
      }
      expect(existsSync(marker)).toBe(false);

      // An allowed one starts, as the same user.
      const uuid = newUuid();
      uuids.push(uuid);
      const file = join(shared, `${uuid}.xml`);
      const name = `${TEST_DOMAIN_PREFIX}uri-ok`;
      writeFileSync(file, domainXml(name, uuid, withPeerUri("qemu+ssh://root@host2/system")), {
        mode: 0o644,
      });
      await virsh(["define", file], { user: READER });
      await virsh(["start", uuid], { user: READER });
      const supervisor = await supervisorOf(uuid);
      const agent = (await hook?.agentRuns(uuid)) as number;
      await destroyed(uuid, [supervisor, agent]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  }, 180_000);

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
