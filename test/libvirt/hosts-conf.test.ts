// /etc/colo-hybrid/hosts.conf (src/libvirt/hosts-conf.ts): how a peer host is reached, root's
// to say; and the replication target derived from it (src/libvirt/peer.ts).
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HostsConfError, hostConfig, parseHostsConf } from "../../src/libvirt/hosts-conf.js";
import { replicationTarget, resolvePeer } from "../../src/libvirt/peer.js";

const dirs: string[] = [];
/** A hosts.conf in a directory of its own (root's, 0700), and its path. */
function confFile(text: string, mode = 0o644): string {
  const dir = mkdtempSync(join(tmpdir(), "colo-hybrid-hosts-"));
  dirs.push(dir);
  const file = join(dir, "hosts.conf");
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
  return file;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const EXAMPLE = `# how this host reaches its peers
[host2.example.org]
keyfile = /root/.ssh/id_colo
known_hosts = /etc/colo-hybrid/known_hosts

[10.0.0.3]
pkipath=/etc/colo-hybrid/pki/host3
address = 10.1.0.3
  no_verify = 0
[[fd00::2]]
address = fd01::2
`;

describe("hosts.conf", () => {
  it("reads sections by host, case-insensitively, and their keys", () => {
    const hosts = parseHostsConf(EXAMPLE);
    expect([...hosts.keys()]).toEqual(["host2.example.org", "10.0.0.3", "fd00::2"]);
    expect(Object.fromEntries(hosts.get("host2.example.org")?.params ?? [])).toEqual({
      keyfile: "/root/.ssh/id_colo",
      known_hosts: "/etc/colo-hybrid/known_hosts",
    });
    expect(hosts.get("10.0.0.3")).toEqual({
      params: new Map([
        ["pkipath", "/etc/colo-hybrid/pki/host3"],
        ["no_verify", "0"],
      ]),
      address: "10.1.0.3",
    });
    const file = confFile(EXAMPLE);
    expect(hostConfig("HOST2.example.org", file).params.get("keyfile")).toBe("/root/.ssh/id_colo");
    expect(hostConfig("elsewhere", file)).toEqual({ params: new Map(), address: undefined });
  });

  it("reports every bad line, with its number", () => {
    const text = [
      "keyfile = /k", // 1: before any section
      "[host 2]", // 2
      "[h]",
      "keyfile = relative/key", // 4
      "command = /tmp/x; rm -rf /",
      "proxy = ssh", // 6
      "no_verify = yes",
      "address = 0.0.0.0.0", // 8
      "name = qemu:///session",
      "just words", // 10
      "keyfile = /a",
      "keyfile = /b", // 12
      "[h]",
    ].join("\n");
    let error: unknown;
    try {
      parseHostsConf(text, "/etc/colo-hybrid/hosts.conf");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HostsConfError);
    const lines = (error as Error).message.split("\n");
    expect(lines.map((l) => /^\/etc\/colo-hybrid\/hosts\.conf:(\d+): /.exec(l)?.[1])).toEqual([
      "1",
      "2",
      "4",
      "6",
      "7",
      "8",
      "9",
      "10",
      "12",
      "13",
    ]);
    expect(lines[2]).toContain('keyfile = "relative/key": an absolute path');
    expect(lines[6]).toContain('unknown key "name"');
  });

  it("is used only when root owns it and its directory, and nobody else may write them", () => {
    const file = confFile(EXAMPLE);
    chmodSync(file, 0o664);
    expect(() => hostConfig("host2.example.org", file)).toThrow(
      /hosts\.conf is not used: .*hosts\.conf is writable by others than root \(mode 664\)/,
    );
    chmodSync(file, 0o644);
    chownSync(file, 65534, 0);
    expect(() => hostConfig("host2.example.org", file)).toThrow(/is owned by uid 65534, not root/);
    chownSync(file, 0, 0);
    chmodSync(join(file, ".."), 0o777);
    expect(() => hostConfig("host2.example.org", file)).toThrow(
      /colo-hybrid-hosts-\w+ is writable/,
    );
    chmodSync(join(file, ".."), 0o700);
    expect(hostConfig("host2.example.org", file).params.size).toBe(2);
  });

  it("runs only an ssh binary that root owns and alone may change", () => {
    const bin = confFile("#!/bin/sh\n", 0o755);
    const file = confFile(`[h]\ncommand = ${bin}\n`);
    expect(hostConfig("h", file).params.get("command")).toBe(bin);
    chmodSync(bin, 0o777);
    expect(() => hostConfig("h", file)).toThrow(/command = .*: .* is writable by others than root/);
    const missing = confFile("[h]\ncommand = /nonexistent/ssh\n");
    expect(() => hostConfig("h", missing)).toThrow(/command = \/nonexistent\/ssh: .*ENOENT/);
  });

  it("is not needed: without the file a host is reached as libvirt would", () => {
    expect(hostConfig("h", "/nonexistent/hosts.conf").params.size).toBe(0);
  });
});

describe("the peer and where replication goes", () => {
  it("names the peer's host, or its replication address, and the pair's own port", () => {
    const file = confFile(EXAMPLE);
    expect(replicationTarget("qemu:///system", 9004, file)).toBe("tcp:127.0.0.1:9004");
    expect(replicationTarget("qemu+ssh://root@host2.example.org/system", 9004, file)).toBe(
      "tcp:host2.example.org:9004",
    );
    expect(replicationTarget("qemu+tls://10.0.0.3:16514/system", 9100, file)).toBe(
      "tcp:10.1.0.3:9100",
    );
    expect(replicationTarget("qemu+tls://[fd00::2]/system", 9100, file)).toBe("tcp:[fd01::2]:9100");
  });

  it("refuses a URI off the allow-list, and a hosts.conf it cannot trust, naming the host", () => {
    expect(() => replicationTarget("qemu+ssh://h/system?command=/x", 9004)).toThrow(
      /is not allowed \(it has parameters or a fragment\)/,
    );
    const file = confFile(EXAMPLE, 0o666);
    expect(() => resolvePeer("qemu+ssh://host2.example.org/system", file)).toThrow(
      /^host host2\.example\.org \(qemu\+ssh:\/\/host2\.example\.org\/system\): .* is not used: /,
    );
  });
});
