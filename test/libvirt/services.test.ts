// The harness against the real thing, checked with the system's own tools only (virsh, ssh):
// libvirtd with its TLS listener, the test sshd, a TCG test domain, and a libvirtd crash.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_ENV, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { isAlive } from "../support/processes.js";
import {
  cleanupTestDomains,
  defineTestDomain,
  killLibvirtd,
  type Libvirtd,
  makeTestPki,
  restartLibvirtd,
  type Sshd,
  startLibvirtd,
  startSshd,
  stopLibvirtd,
  type TestDomain,
  virsh,
} from "../support/services.js";

const MINUTE = 60_000;

async function domstate(name: string, uri?: string): Promise<string> {
  return (await virsh(["domstate", name], uri ? { uri } : {})).stdout.trim();
}

async function queryStatus(name: string): Promise<unknown> {
  const out = await virsh(["qemu-monitor-command", name, '{"execute":"query-status"}']);
  return JSON.parse(out.stdout).return;
}

function sshUri(sshd: Sshd, transport: "ssh" | "libssh", params: Record<string, string>): string {
  const query = new URLSearchParams({ keyfile: sshd.identityFile, ...params });
  return `qemu+${transport}://root@127.0.0.1:${sshd.port}/system?${query}`;
}

// Domains start and are destroyed in 1-2 s each under TCG; a daemon start can take longer.
describe("test services", { timeout: 2 * MINUTE }, () => {
  let libvirtd: Libvirtd;
  let domain: TestDomain;
  let sshd: Sshd;

  beforeAll(async () => {
    libvirtd = await startLibvirtd();
    await cleanupTestDomains();
    domain = await defineTestDomain();
    sshd = await startSshd();
  }, 3 * MINUTE);

  afterAll(async () => {
    await sshd?.stop();
    await domain?.destroy();
  }, MINUTE);

  it("runs the test domain under TCG, and its QEMU answers QMP", async () => {
    expect(domain.name).toMatch(/^colo-hybrid-test-/);
    expect(domain.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(domain.xml).toMatch(/^<domain type='qemu' id='\d+'>/);
    const names = (await virsh(["list", "--name"])).stdout.split("\n");
    expect(names).toContain(domain.name);
    expect(await domstate(domain.name)).toBe("running");
    expect(await queryStatus(domain.name)).toMatchObject({ status: "running", running: true });
  });

  it("starts a domain paused on request, and destroy() removes it for good", async () => {
    const paused = await defineTestDomain(undefined, { paused: true });
    try {
      expect(await domstate(paused.name)).toBe("paused");
      expect(await queryStatus(paused.name)).toMatchObject({ status: "prelaunch", running: false });
    } finally {
      await paused.destroy();
    }
    await expect(virsh(["dominfo", paused.name])).rejects.toThrow(/failed to get domain/);
    await paused.destroy();
  });

  it("serves qemu+tls on 127.0.0.1 with the test PKI, under both names of the server", async () => {
    for (const host of ["127.0.0.1", "localhost"]) {
      const uri = libvirtd.tlsUri.replace("127.0.0.1", host);
      const out = await virsh(["list", "--name"], { uri });
      expect(out.stdout.split("\n")).toContain(domain.name);
    }
  });

  it("rejects a TLS client whose certificate the test CA did not sign", async () => {
    const foreign = await makeTestPki(join(BUILD_DIR, "test-pki-foreign"));
    const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-pki-"));
    try {
      await copyFile(libvirtd.pki.caCert, join(dir, "cacert.pem"));
      await copyFile(foreign.clientCert, join(dir, "clientcert.pem"));
      await copyFile(foreign.clientKey, join(dir, "clientkey.pem"));
      // no_sanity: the client would refuse to present such a certificate in the first place.
      const uri = `qemu+tls://127.0.0.1:${libvirtd.tlsPort}/system?pkipath=${dir}&no_sanity=1`;
      await expect(virsh(["list"], { uri, timeoutMs: 20_000 })).rejects.toThrow(
        /Unable to read TLS confirmation/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("lets root in by key, with the host key pinned", async () => {
    const out = await run("ssh", [
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${sshd.knownHostsFile}`,
      "-i",
      sshd.identityFile,
      "-p",
      String(sshd.port),
      "root@127.0.0.1",
      "id -u",
    ]);
    expect(out.stdout.trim()).toBe("0");
    expect(sshd.log()).toMatch(/Accepted publickey for root/);
  });

  it("serves qemu+ssh (OpenSSH) through the test sshd, host key checked", async () => {
    // libvirt 9.0 gives OpenSSH no known_hosts file (that parameter is libssh's); the command=
    // wrapper pins it.
    const uri = sshUri(sshd, "ssh", { command: sshd.sshCommand, no_tty: "1" });
    const out = await virsh(["list", "--name"], { uri });
    expect(out.stdout.split("\n")).toContain(domain.name);
  });

  it("serves qemu+libssh through the test sshd with the test known_hosts", async () => {
    const uri = sshUri(sshd, "libssh", { known_hosts: sshd.knownHostsFile, no_tty: "1" });
    const out = await virsh(["list", "--name"], { uri });
    expect(out.stdout.split("\n")).toContain(domain.name);
  });

  it("comes back from a libvirtd crash with the running domain still there", async () => {
    await killLibvirtd();
    await expect(virsh(["list"], { timeoutMs: 10_000 })).rejects.toThrow(
      /Failed to connect socket/,
    );
    const again = await startLibvirtd();
    expect(again.pid).not.toBe(libvirtd.pid);
    expect(again.tlsUri).toBe(libvirtd.tlsUri);
    expect(await domstate(domain.name)).toBe("running");
    expect(await queryStatus(domain.name)).toMatchObject({ status: "running" });
    libvirtd = again;
  });

  it("restarts libvirtd, and replaces one that runs without our config", async () => {
    const restarted = await restartLibvirtd();
    expect(restarted.pid).not.toBe(libvirtd.pid);
    expect(isAlive(libvirtd.pid)).toBe(false);
    await stopLibvirtd();
    await run("libvirtd", ["-d"], { env: DAEMON_ENV });
    const ours = await startLibvirtd();
    expect(await virsh(["list", "--name"], { uri: ours.tlsUri })).toMatchObject({
      stdout: expect.stringContaining(domain.name),
    });
    expect(await domstate(domain.name, ours.tlsUri)).toBe("running");
    libvirtd = ours;
  });

  it("cleans up leftover test domains, and only those", async () => {
    const leftover = await defineTestDomain();
    const allNames = async () =>
      (await virsh(["list", "--all", "--name"])).stdout.split("\n").filter((n) => n !== "");
    const before = await allNames();
    const removed = await cleanupTestDomains();
    expect(removed.sort()).toEqual([leftover.name, domain.name].sort());
    expect(await allNames()).toEqual(before.filter((n) => !removed.includes(n)));
  });
});
