// colo-hybrid's libvirt access against a real libvirtd and a real QEMU (TCG) domain: the same
// contract for the RPC client and the virsh transport, then what only the client does
// (concurrency, reconnect, SSH, TLS).
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { Affect, type Libvirt, type QemuMonitorEvent } from "../../src/libvirt/api.js";
import { LibvirtClient } from "../../src/libvirt/client.js";
import { connectLibvirt } from "../../src/libvirt/connect.js";
import { ErrorCode, LibvirtError, QmpError } from "../../src/libvirt/errors.js";
import { connectPeer } from "../../src/libvirt/peer.js";
import { decodeFrame, FrameDecoder } from "../../src/libvirt/rpc/message.js";
import { KEEPALIVE, KeepaliveProc, procedures, QEMU } from "../../src/libvirt/rpc/protocol.js";
import { qemuOwner } from "../../src/libvirt/xml/capabilities.js";
import { parseDomainXml } from "../../src/libvirt/xml/domain.js";
import {
  formatMetadata,
  METADATA_KEY,
  METADATA_NS,
  parseMetadata,
} from "../../src/libvirt/xml/metadata.js";
import { testDomainXml } from "../support/domains.js";
import { CommandError, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import {
  cleanupTestDomains,
  defineTestDomain,
  killLibvirtd,
  type Libvirtd,
  startLibvirtd,
  startSshd,
  TEST_DOMAIN_PREFIX,
  type TestDomain,
  virsh,
} from "../support/services.js";
import { waitUntil } from "../support/wait.js";

const MINUTE = 60_000;
let daemon: Libvirtd;
let domain: TestDomain;

beforeAll(async () => {
  daemon = await startLibvirtd();
  await cleanupTestDomains();
  domain = await defineTestDomain();
}, 2 * MINUTE);

afterAll(async () => {
  await domain?.destroy();
}, MINUTE);

/** Events the handler saw, and a way to wait for one. */
function collect<T>() {
  const seen: T[] = [];
  return {
    seen,
    handler: (e: T) => {
      seen.push(e);
    },
    until: async (pred: (e: T) => boolean): Promise<T> => {
      await waitUntil("an event", () => seen.some(pred), 20_000, 20);
      return seen.find(pred) as T;
    },
  };
}

const METADATA = {
  role: "primary" as const,
  peer: { uri: "qemu+ssh://root@host2/system", domain: "web1-secondary" },
  protect: false,
  params: { ...DEFAULT_PARAMS, passiveLimit: 350 },
};

const uniqueName = () => `${TEST_DOMAIN_PREFIX}${randomBytes(4).toString("hex")}`;

/** virsh's words for "nothing to stop or remove". */
const GONE = /is not active|Storage pool not found|failed to get (pool|domain)|Domain not found/;

/** Runs a virsh clean-up step; a pool or domain already stopped or gone is fine. */
async function cleanUp(args: string[]): Promise<void> {
  try {
    await virsh(args);
  } catch (e) {
    if (!(e instanceof CommandError && GONE.test(e.stderr))) throw e;
  }
}

/** Stops and undefines a test pool, with virsh: the interface need not do either. */
async function removePool(name: string): Promise<void> {
  await cleanUp(["pool-destroy", name]);
  await cleanUp(["pool-undefine", name]);
}

const MIB = 1024 * 1024;

describe.each([
  ["RPC client", () => connectLibvirt("qemu:///system", "rpc")],
  ["virsh", () => connectLibvirt("qemu:///system", "virsh")],
])("libvirt through the %s", (_, open) => {
  let lv: Libvirt;
  beforeAll(async () => {
    lv = await open();
  });
  afterAll(() => lv?.close());

  it("looks a domain up by name and by UUID, and reads its XML and state", async () => {
    const byName = await lv.lookupByName(domain.name);
    expect(byName).toMatchObject({ name: domain.name, uuid: domain.uuid });
    expect(byName.id).toBeGreaterThan(0);
    expect(await lv.lookupByUuid(domain.uuid)).toEqual(byName);
    const info = parseDomainXml(await lv.domainXml(byName));
    expect(info).toMatchObject({ name: domain.name, uuid: domain.uuid, type: "qemu" });
    expect((await lv.domainState(byName)).state).toBe("running");
  });

  it("reports a missing domain with libvirt's code and message", async () => {
    const e = await lv.lookupByName("colo-hybrid-no-such-domain").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LibvirtError);
    expect(e).toMatchObject({ kind: "libvirt", code: ErrorCode.noDomain });
    expect((e as Error).message).toMatch(/domain/i);
  });

  it("passes QMP through, parsed, with QMP errors typed", async () => {
    const dom = await lv.lookupByName(domain.name);
    expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "running", running: true });
    expect(await lv.qmp(dom, "query-name")).toEqual({ name: domain.name });
    const e = await lv.qmp(dom, "no-such-command").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpError);
    expect(e).toMatchObject({ errorClass: "CommandNotFound", command: "no-such-command" });
  });

  it("delivers QEMU's STOP and RESUME with QEMU's timestamps, and lifecycle events", async () => {
    const dom = await lv.lookupByName(domain.name);
    const qemu = collect<QemuMonitorEvent>();
    const life = collect<{ type: string }>();
    const subs = [
      await lv.onQemuMonitorEvent(dom, undefined, qemu.handler),
      await lv.onLifecycle(dom, life.handler),
    ];
    const before = Date.now();
    await lv.suspend(dom);
    await lv.resume(dom);
    const stop = await qemu.until((e) => e.event === "STOP");
    const resume = await qemu.until((e) => e.event === "RESUME");
    await life.until((e) => e.type === "suspended");
    await life.until((e) => e.type === "resumed");
    expect(stop.domain.name).toBe(domain.name);
    expect(stop.timestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(stop.timestamp).toBeLessThanOrEqual(resume.timestamp);
    expect(stop.timestamp).toBe(stop.seconds * 1000 + stop.micros / 1000);
    for (const s of subs) await s.close();
    qemu.seen.length = 0;
    await lv.suspend(dom);
    await lv.resume(dom);
    await new Promise((r) => setTimeout(r, 700));
    expect(qemu.seen).toEqual([]); // closed subscriptions deliver nothing
  });

  it("writes our metadata, live and persistent, leaving foreign metadata as it was", async () => {
    const dom = await lv.lookupByName(domain.name);
    const foreign = "http://example.org/backup/1";
    await lv.setMetadata(dom, foreign, "bk", '<policy keep="7"/>', Affect.live | Affect.config);
    await lv.setMetadata(
      dom,
      METADATA_NS,
      METADATA_KEY,
      formatMetadata(METADATA),
      Affect.live | Affect.config,
    );
    for (const flags of [Affect.live, Affect.config]) {
      const ours = await lv.getMetadata(dom, METADATA_NS, flags);
      expect(parseMetadata(ours as string)).toEqual({ ok: true, value: METADATA });
      expect(await lv.getMetadata(dom, foreign, flags)).toMatch(/<policy keep="7"\/>/);
    }
    expect(parseDomainXml(await lv.domainXml(dom)).metadata).toEqual({ ok: true, value: METADATA });
    await lv.setMetadata(dom, METADATA_NS, METADATA_KEY, undefined, Affect.live | Affect.config);
    expect(await lv.getMetadata(dom, METADATA_NS, Affect.live)).toBeUndefined();
    expect(await lv.getMetadata(dom, foreign, Affect.live)).toMatch(/keep="7"/);
  });

  it("reads the host's capabilities (QEMU's user and group) and its free memory", async () => {
    // Debian's libvirt runs QEMU as user libvirt-qemu and group libvirt-qemu (qemu.conf's
    // defaults), not the user's primary group kvm.
    const uid = Number((await run("id", ["-u", "libvirt-qemu"])).stdout.trim());
    const gid = Number((await run("getent", ["group", "libvirt-qemu"])).stdout.split(":")[2]);
    expect(qemuOwner(await lv.capabilities(), "qemu")).toEqual({ uid, gid });
    const total = readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s+(\d+) kB$/m)?.[1];
    const free = await lv.freeMemory();
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(Number(total) * 1024);
  });

  it("makes an empty qcow2 volume in a dir pool it defines, builds and starts, then deletes it", async () => {
    const dir = mkdtempSync(join(BUILD_DIR, "test-pool-"));
    const target = join(dir, "images");
    const name = uniqueName();
    try {
      const pool = await lv.poolDefineXml(
        `<pool type='dir'><name>${name}</name><target><path>${target}</path></target></pool>`,
      );
      expect(pool.name).toBe(name);
      expect(pool.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(await lv.poolLookupByName(name)).toEqual(pool);
      expect((await lv.poolInfo(pool)).state).toBe("inactive");
      await lv.poolBuild(pool);
      expect(statSync(target).isDirectory()).toBe(true);
      await lv.poolCreate(pool);
      await lv.poolRefresh(pool);
      const info = await lv.poolInfo(pool);
      expect(info.state).toBe("running");
      expect(info.available).toBeGreaterThan(0);
      expect(info.capacity).toBeGreaterThanOrEqual(info.available);
      for (const [on, word] of [
        [true, "yes"],
        [false, "no"],
      ] as const) {
        await lv.poolSetAutostart(pool, on);
        expect((await virsh(["pool-info", name])).stdout).toMatch(
          new RegExp(`^Autostart:\\s+${word}$`, "m"),
        );
      }

      const vol = await lv.volCreateXml(
        pool,
        `<volume><name>x.qcow2</name><capacity unit='bytes'>${64 * MIB}</capacity>` +
          "<target><format type='qcow2'/></target></volume>",
      );
      const path = join(target, "x.qcow2");
      // A file's key is its path.
      expect(vol).toEqual({ pool: name, name: "x.qcow2", key: path });
      expect(await lv.volLookupByPath(path)).toEqual(vol);
      expect(await lv.volPath(vol)).toBe(path);
      const image = JSON.parse((await run("qemu-img", ["info", "--output=json", path])).stdout);
      expect(image).toMatchObject({ format: "qcow2", "virtual-size": 64 * MIB });
      await lv.volDelete(vol);
      expect(existsSync(path)).toBe(false);
      const e = await lv.volLookupByPath(path).catch((x: unknown) => x);
      expect(e).toMatchObject({ kind: "libvirt", code: ErrorCode.noStorageVolume });
    } finally {
      await removePool(name);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a missing pool or volume with libvirt's codes", async () => {
    const pool = await lv.poolLookupByName("colo-hybrid-no-such-pool").catch((x: unknown) => x);
    expect(pool).toBeInstanceOf(LibvirtError);
    expect(pool).toMatchObject({ kind: "libvirt", code: ErrorCode.noStoragePool });
    const vol = await lv.volLookupByPath("/nonexistent/colo-hybrid.qcow2").catch((x: unknown) => x);
    expect(vol).toBeInstanceOf(LibvirtError);
    expect(vol).toMatchObject({ kind: "libvirt", code: ErrorCode.noStorageVolume });
  });

  it("reads the sizes of a shut-off domain's qcow2 disk, by target and by path", async () => {
    const dir = mkdtempSync(join(BUILD_DIR, "test-blockinfo-"));
    const image = join(dir, "disk.qcow2");
    const name = uniqueName();
    try {
      await run("qemu-img", ["create", "-f", "qcow2", image, "32M"]);
      await run("chown", ["libvirt-qemu:kvm", image]);
      const disk = `
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${image}'/>
      <target dev='vda' bus='virtio'/>
    </disk>`;
      const dom = await lv.defineXml(testDomainXml(name, disk));
      expect((await lv.domainState(dom)).state).toBe("shutoff");
      const info = await lv.domainBlockInfo(dom, "vda");
      expect(info.capacity).toBe(32 * MIB);
      expect(info.physical).toBe(statSync(image).size);
      expect(info.allocation).toBeGreaterThan(0);
      expect(await lv.domainBlockInfo(dom, image)).toEqual(info);
    } finally {
      await cleanUp(["undefine", name]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the RPC client alone", () => {
  it("answers 100 concurrent commands, each with its own reply", async () => {
    const lv = await LibvirtClient.connect("qemu:///system");
    try {
      const dom = await lv.lookupByName(domain.name);
      const commands = ["query-status", "query-name", "query-uuid", "query-kvm"];
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) => lv.qmp(dom, commands[i % 4] as string)),
      );
      replies.forEach((r, i) => {
        const expected = [
          { status: "running" },
          { name: domain.name },
          { UUID: domain.uuid },
          { enabled: false },
        ][i % 4];
        expect(r).toMatchObject(expected as object);
      });
    } finally {
      await lv.close();
    }
  });

  it(
    "survives libvirtd being killed: callers told once, calls fail fast, events restored",
    async () => {
      const lv = await LibvirtClient.connect("qemu:///system", { reconnectMax: 500 });
      try {
        const dom = await lv.lookupByName(domain.name);
        const qemu = collect<QemuMonitorEvent>();
        await lv.onQemuMonitorEvent(dom, "STOP", qemu.handler);
        const disconnected: Error[] = [];
        let reconnected = 0;
        lv.on("disconnected", (e: Error) => disconnected.push(e));
        lv.on("reconnected", () => reconnected++);

        await killLibvirtd();
        await waitUntil("disconnected", () => disconnected.length > 0, 10_000, 20);
        const down = await lv.qmp(dom, "query-status").catch((e: unknown) => e);
        expect(down).toMatchObject({ kind: "connection" });
        expect((down as Error).message).toMatch(/reconnecting/);

        daemon = await startLibvirtd();
        await waitUntil("reconnected", () => reconnected > 0, 30_000, 20);
        expect(disconnected).toHaveLength(1);
        expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "running" });
        await virsh(["suspend", domain.name]);
        await virsh(["resume", domain.name]);
        await qemu.until((e) => e.event === "STOP");
      } finally {
        await lv.close();
      }
    },
    2 * MINUTE,
  );

  it(
    "a re-registration cut off after a reconnect: one loop, one connection, close() ends both",
    async () => {
      // A tap in front of libvirtd that can cut every connection, and cuts the second one as
      // soon as it asks to register a QEMU event callback: the re-registration after a reconnect.
      const tap = join(tmpdir(), `colo-hybrid-tap-rereg-${process.pid}.sock`);
      const open = new Set<Socket>();
      let accepted = 0;
      let maxOpen = 0;
      const register = procedures.qemuMonitorEventRegister.proc;
      const proxy = createServer((client) => {
        const n = ++accepted;
        open.add(client);
        maxOpen = Math.max(maxOpen, open.size);
        const daemonSide = connect("/run/libvirt/libvirt-sock");
        const up = new FrameDecoder();
        client.on("data", (c: Buffer) => {
          const frames = up.push(c).map((f) => decodeFrame(f).header);
          if (n === 2 && frames.some((h) => h.prog === QEMU.prog && h.proc === register)) {
            client.destroy();
            return;
          }
          daemonSide.write(c);
        });
        daemonSide.pipe(client);
        for (const s of [client, daemonSide]) s.on("error", () => {});
        client.on("close", () => {
          open.delete(client);
          daemonSide.destroy();
        });
        daemonSide.on("close", () => client.destroy());
      }).listen(tap);
      try {
        const lv = await LibvirtClient.connect(`qemu+unix:///system?socket=${tap}`, {
          reconnectMin: 20,
          reconnectMax: 100,
        });
        const told = { disconnected: 0, reconnected: 0 };
        lv.on("disconnected", () => told.disconnected++);
        lv.on("reconnected", () => told.reconnected++);
        try {
          const dom = await lv.lookupByName(domain.name);
          const qemu = collect<QemuMonitorEvent>();
          await lv.onQemuMonitorEvent(dom, "STOP", qemu.handler);
          for (const s of open) s.destroy();
          await waitUntil("reconnected", () => told.reconnected > 0, 10_000, 5);
          await new Promise((r) => setTimeout(r, 600)); // a second loop would have connected
          expect({ accepted, open: open.size, maxOpen }).toEqual({
            accepted: 3,
            open: 1,
            maxOpen: 1,
          });
          expect(told).toEqual({ disconnected: 1, reconnected: 1 });
          await virsh(["suspend", domain.name]);
          await virsh(["resume", domain.name]);
          await qemu.until((e) => e.event === "STOP");
        } finally {
          await lv.close();
        }
        await waitUntil("every connection closed", () => open.size === 0, 2_000, 5);
        await new Promise((r) => setTimeout(r, 300));
        expect(accepted).toBe(3);
      } finally {
        proxy.close();
      }
    },
    MINUTE,
  );

  it("pings an idle daemon and hears its answers (keepalive)", async () => {
    // A tap between client and libvirtd counts keepalive messages each way.
    const tap = join(tmpdir(), `colo-hybrid-tap-${process.pid}.sock`);
    const seen = { ping: 0, pong: 0 };
    const count = (decoder: FrameDecoder, chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const { header } = decodeFrame(frame);
        if (header.prog !== KEEPALIVE.prog) continue;
        if (header.proc === KeepaliveProc.ping) seen.ping++;
        else seen.pong++;
      }
    };
    const proxy = createServer((client) => {
      const daemonSide = connect("/run/libvirt/libvirt-sock");
      const up = new FrameDecoder();
      const down = new FrameDecoder();
      client.on("data", (c: Buffer) => count(up, c));
      daemonSide.on("data", (c: Buffer) => count(down, c));
      client.pipe(daemonSide).pipe(client);
      client.on("close", () => daemonSide.destroy());
    }).listen(tap);
    try {
      // One unanswered ping would close it: it stays up only if the pongs keep coming.
      const lv = await LibvirtClient.connect(`qemu+unix:///system?socket=${tap}`, {
        keepaliveInterval: 50,
        keepaliveCount: 1,
      });
      let lost: Error | undefined;
      lv.on("disconnected", (e: Error) => {
        lost = e;
      });
      await new Promise((r) => setTimeout(r, 1000));
      expect(lost).toBeUndefined();
      expect(seen.ping).toBeGreaterThan(5);
      expect(seen.pong).toBeGreaterThan(5);
      await lv.close();
    } finally {
      proxy.close();
    }
  });

  it("times out a call the daemon never answers, with a clear error", async () => {
    const path = join(tmpdir(), `colo-hybrid-silent-${process.pid}.sock`);
    const silent: Server = createServer(() => {}).listen(path);
    try {
      const e = await LibvirtClient.connect(`qemu+unix:///system?socket=${path}`, {
        callTimeout: 300,
      }).catch((x: unknown) => x);
      expect(e).toMatchObject({ kind: "timeout" });
      expect((e as Error).message).toBe("auth list: no reply within 300 ms");
    } finally {
      silent.close();
    }
  });

  it(
    "connects over SSH through a real sshd, with the host key pinned",
    async () => {
      const sshd = await startSshd();
      try {
        const uri =
          `qemu+ssh://root@127.0.0.1:${sshd.port}/system` +
          `?keyfile=${sshd.identityFile}&known_hosts=${sshd.knownHostsFile}&no_tty=1`;
        const lv = await LibvirtClient.connect(uri);
        try {
          const dom = await lv.lookupByName(domain.name);
          expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "running" });
        } finally {
          await lv.close();
        }
        const wrong = `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${sshd.identityFile}&known_hosts=/dev/null&no_tty=1`;
        const e = await LibvirtClient.connect(wrong).catch((x: unknown) => x);
        expect(e).toMatchObject({ kind: "connection" });
        expect((e as Error).message).toMatch(/Host key verification failed/);
      } finally {
        await sshd.stop();
      }
    },
    MINUTE,
  );

  it(
    "reaches a peer over SSH and TLS the way hosts.conf says, and names the host when it cannot",
    async () => {
      const sshd = await startSshd();
      const dir = mkdtempSync(join(tmpdir(), "colo-hybrid-peer-"));
      const hostsFile = join(dir, "hosts.conf");
      const conf = (knownHosts: string) =>
        writeFileSync(
          hostsFile,
          `[127.0.0.1]\nkeyfile = ${sshd.identityFile}\nknown_hosts = ${knownHosts}\n` +
            `pkipath = ${daemon.pki.dir}\n`,
        );
      try {
        conf(sshd.knownHostsFile);
        const ssh = `qemu+ssh://root@127.0.0.1:${sshd.port}/system`;
        const tls = `qemu+tls://127.0.0.1:${daemon.tlsPort}/system`;
        for (const uri of [ssh, tls]) {
          const lv = await connectPeer(uri, { hostsFile });
          try {
            // Messages show the URI as the metadata names it.
            expect(lv.uri).toBe(uri);
            const dom = await lv.lookupByName(domain.name);
            expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "running" });
          } finally {
            await lv.close();
          }
        }
        conf("/dev/null");
        const e = await connectPeer(ssh, { hostsFile }).catch((x: unknown) => x);
        expect(e).toMatchObject({ kind: "connection" });
        const message = (e as Error).message;
        expect(message.startsWith(`host 127.0.0.1 (${ssh}): `), message).toBe(true);
        expect(message).toContain("Host key verification failed");
        // Without hosts.conf, the URI alone cannot say where the keys are.
        const none = await connectPeer(tls, { hostsFile: join(dir, "none") }).catch(
          (x: unknown) => x,
        );
        expect((none as Error).message).toMatch(
          /^host 127\.0\.0\.1 \(qemu\+tls:.*\): cannot read the CA/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await sshd.stop();
      }
    },
    MINUTE,
  );

  it("connects over TLS with the test certificates, and says why when it cannot", async () => {
    const lv = await LibvirtClient.connect(`${daemon.tlsUri}`);
    try {
      const dom = await lv.lookupByUuid(domain.uuid);
      expect(await lv.qmp(dom, "query-status")).toMatchObject({ status: "running" });
    } finally {
      await lv.close();
    }
    const e = await LibvirtClient.connect(
      `qemu+tls://127.0.0.1:${daemon.tlsPort}/system?pkipath=/nonexistent`,
    ).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(
      /cannot read the CA certificate \/nonexistent\/cacert.pem/,
    );
  });
});
