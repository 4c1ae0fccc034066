import { describe, expect, it } from "vitest";
import { sshArgs } from "../../src/libvirt/transport/ssh.js";
import { pkiFiles } from "../../src/libvirt/transport/tls.js";
import { parseLibvirtUri } from "../../src/libvirt/uri.js";

describe("libvirt URIs", () => {
  it.each([
    ["qemu:///system", "unix", undefined, "qemu:///system"],
    ["qemu+unix:///system?socket=/tmp/s", "unix", undefined, "qemu:///system"],
    ["qemu+ssh://root@host2:2222/system?keyfile=/k&no_verify=1", "ssh", "host2", "qemu:///system"],
    ["qemu+tls://host2/system?pkipath=/p", "tls", "host2", "qemu:///system"],
    ["qemu://host2/system", "tls", "host2", "qemu:///system"],
    ["qemu+tcp://[::1]:16509/system", "tcp", "::1", "qemu:///system"],
    ["qemu:///session?virtqemud=1", "unix", undefined, "qemu:///session?virtqemud=1"],
  ])("reads %s", (uri, transport, host, daemonUri) => {
    const u = parseLibvirtUri(uri);
    expect(u.transport).toBe(transport);
    expect(u.host).toBe(host);
    expect(u.daemonUri).toBe(daemonUri);
  });

  it.each([
    ["not a uri", /not a URI/],
    ["qemu+ssh:///system", /ssh needs a host/],
    ["qemu+libssh2://h/system", /transport 'libssh2' is not supported/],
    ["qemu+ssh+x://h/system", /expected driver/],
    ["qemu+ssh://%zz/system", /invalid libvirt URI/],
  ])("refuses %s", (uri, message) => {
    expect(() => parseLibvirtUri(uri)).toThrow(message);
  });

  it("runs ssh as libvirt does, with the proxy chosen by the URI", () => {
    const args = sshArgs(
      parseLibvirtUri(
        "qemu+ssh://root@h:2222/system?keyfile=/k&known_hosts=/kh&no_tty=1&netcat=/bin/nc",
      ),
    );
    expect(args.slice(0, -1)).toEqual([
      "-p",
      "2222",
      "-l",
      "root",
      "-i",
      "/k",
      "-T",
      "-e",
      "none",
      "-o",
      "BatchMode=yes",
      "-o",
      "UserKnownHostsFile=/kh",
      "--",
      "h",
    ]);
    expect(args.at(-1)).toBe(
      `sh -c ''\\''/bin/nc'\\'' -U '\\''/var/run/libvirt/libvirt-sock'\\'''`,
    );
    const auto = sshArgs(parseLibvirtUri("qemu+ssh://h/system")).at(-1);
    expect(auto).toContain("virt-ssh-helper");
    expect(auto).toContain("qemu:///system");
  });

  it("takes TLS certificates from pkipath, else libvirt's default places", () => {
    expect(pkiFiles(parseLibvirtUri("qemu+tls://h/system?pkipath=/p"))).toEqual({
      ca: "/p/cacert.pem",
      cert: "/p/clientcert.pem",
      key: "/p/clientkey.pem",
    });
    expect(pkiFiles(parseLibvirtUri("qemu+tls://h/system")).ca).toBe("/etc/pki/CA/cacert.pem");
  });
});
