// The COLO lab's guest on its own, as a plain TCG domain: built from Debian's packages (cached),
// booted under libvirt, reached through a forwarded port and put under the lab's load. Also the
// load generator's own bookkeeping, against a local stand-in server.
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startLibvirtd, TEST_DOMAIN_PREFIX, virsh } from "../support/services.js";
import { acceptsConnection, freePort, portIsFree } from "../support/sockets.js";
import { waitUntil } from "../support/wait.js";
import { buildGuest, FIXED_BODY, GUEST_READY_LINE, type Guest } from "./guest.js";
import { consoleLogPath, forwardPort, guestDomainXml } from "./guest-domain.js";
import { isWellFormedDivergent, type LoadResult, parsePhases, runLoad } from "./load.js";

const MINUTE = 60_000;
/** ~10 s under TCG on an idle host; more when other guests share the two cores. */
const BOOT_TIMEOUT_MS = 40_000;

async function domainNames(...flags: string[]): Promise<string[]> {
  return (await virsh(["list", ...flags, "--name"])).stdout.split("\n").map((l) => l.trim());
}

async function removeDomain(name: string): Promise<void> {
  if ((await domainNames()).includes(name)) await virsh(["destroy", name]);
  if ((await domainNames("--all")).includes(name)) await virsh(["undefine", name]);
}

async function defineDomain(xml: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "colo-hybrid-lab-"));
  try {
    const file = join(dir, "domain.xml");
    await writeFile(file, xml);
    await virsh(["define", file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function consoleTail(name: string): Promise<string> {
  const log = consoleLogPath(name);
  return existsSync(log) ? (await readFile(log, "utf8")).slice(-2_000) : "(no console log yet)";
}

describe("the lab guest as a plain TCG domain", { timeout: MINUTE }, () => {
  const name = `${TEST_DOMAIN_PREFIX}guest-${randomBytes(4).toString("hex")}`;
  let guest: Guest;
  let port: number;
  /** Until the guest has booted, and after any failure: a failed run keeps the guest's console. */
  let keepConsole = true;

  beforeAll(async () => {
    await startLibvirtd();
    guest = await buildGuest();
    await defineDomain(guestDomainXml({ name, ...guest }));
    await virsh(["start", name]);
    port = await freePort();
    await forwardPort(name, port);
    await waitUntil(
      `${name} to boot (console: ${consoleLogPath(name)})`,
      async () => {
        if ((await readFile(consoleLogPath(name), "utf8")).includes(GUEST_READY_LINE)) return true;
        throw new Error(`console so far:\n${await consoleTail(name)}`);
      },
      BOOT_TIMEOUT_MS,
      250,
    );
    keepConsole = false;
  }, 2 * MINUTE);

  afterEach(({ task }) => {
    if (task.result?.state === "fail") keepConsole = true;
  });

  afterAll(async () => {
    await removeDomain(name);
    // The forward dies with the QEMU process.
    if (port !== undefined) {
      await waitUntil(`port ${port} to be free again`, () => portIsFree(port), 10_000);
    }
    if (!keepConsole) await rm(consoleLogPath(name), { force: true });
  }, MINUTE);

  it("builds once: a second build returns the cached kernel and initramfs", async () => {
    expect(guest.kernel).toMatch(/\/build\/lab\/guest\/[0-9a-f]{16}\/vmlinuz$/);
    const built = [guest.kernel, guest.initrd].map((f) => statSync(f).mtimeMs);
    expect(await buildGuest()).toEqual(guest);
    // Returned, not made again: the files are the ones the first build wrote.
    expect([guest.kernel, guest.initrd].map((f) => statSync(f).mtimeMs)).toEqual(built);
  });

  it("boots and serves its static page through the forwarded port", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/index.html`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("colo-hybrid lab guest");
  });

  it("answers the fixed endpoint exactly and the divergent one well-formed, under load", async () => {
    const report = await runLoad({
      port,
      phases: [
        { kind: "divergent", seconds: 3, rate: 3 },
        { kind: "idle", seconds: 1 },
        { kind: "convergent", seconds: 3, rate: 3 },
      ],
      maxRequests: 30,
      timeoutMs: 30_000,
    });
    expect(report.stoppedBy).toBeNull();
    const [divergent, idle, convergent] = report.phases;
    for (const phase of [divergent!, convergent!]) {
      expect(phase).toMatchObject({ requests: 9, ok: 9, errors: {}, correct: 9, wrong: 0 });
      expect(phase.latency!.maxMs).toBeLessThan(10_000);
    }
    expect(idle).toMatchObject({ requests: 0, latency: null });
  });
});

describe("the lab's load generator", () => {
  let server: Server;
  let port: number;
  /** What the stand-in answers on /cgi-bin/divergent, in turn. */
  const divergentBodies = ["now at 42 nsecs\nuuid 0a1b2c3d-0000-4000-8000-00000000abcd\n", "oops"];
  let served = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/cgi-bin/fixed") return res.end(FIXED_BODY);
      res.end(divergentBodies[served++ % 2]);
    });
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("parses phases as the command line gives them, and refuses anything else", () => {
    expect(parsePhases("divergent:30:2,idle:10,convergent:0.5:4")).toEqual([
      { kind: "divergent", seconds: 30, rate: 2 },
      { kind: "idle", seconds: 10 },
      { kind: "convergent", seconds: 0.5, rate: 4 },
    ]);
    for (const bad of ["divergent:30", "idle:10:1", "busy:3:1", "convergent:-1:2", ""]) {
      expect(() => parsePhases(bad), bad).toThrow(/expected idle:SECONDS/);
    }
  });

  it("tells correct bodies from wrong ones, and counts refused connections", async () => {
    expect(isWellFormedDivergent(divergentBodies[0]!)).toBe(true);
    const report = await runLoad({
      port,
      phases: [
        { kind: "convergent", seconds: 0.2, rate: 10 },
        { kind: "divergent", seconds: 0.4, rate: 10 },
      ],
      maxRequests: 100,
      timeoutMs: 5_000,
    });
    expect(report.phases[0]).toMatchObject({ requests: 2, ok: 2, correct: 2, wrong: 0 });
    expect(report.phases[1]).toMatchObject({ requests: 4, ok: 4, correct: 2, wrong: 2 });
    expect(report.phases[1]?.firstWrong).toBe("oops");

    const closed = await freePort();
    expect(await acceptsConnection({ host: "127.0.0.1", port: closed })).toBe(false);
    const refused = await runLoad({
      port: closed,
      phases: [{ kind: "convergent", seconds: 0.2, rate: 10 }],
      maxRequests: 10,
      timeoutMs: 5_000,
    });
    expect(refused.phases[0]).toMatchObject({ requests: 2, ok: 0, errors: { ECONNREFUSED: 2 } });
  });

  it("stops at maxRequests, and at timeoutMs with open requests counted as timeouts", async () => {
    const capped = await runLoad({
      port,
      phases: [{ kind: "convergent", seconds: 10, rate: 20 }],
      maxRequests: 3,
      timeoutMs: 5_000,
    });
    expect(capped).toMatchObject({ stoppedBy: "maxRequests", phases: [{ requests: 3 }] });
    expect(capped.elapsedMs).toBeLessThan(1_000);

    // A listener that accepts and never answers: a guest that hangs.
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => sockets.push(socket));
    const silentPort = await freePort();
    await new Promise<void>((resolve) => silent.listen(silentPort, "127.0.0.1", resolve));
    let timedOut: LoadResult;
    try {
      timedOut = await runLoad({
        port: silentPort,
        phases: [
          { kind: "idle", seconds: 0.1 },
          { kind: "divergent", seconds: 10, rate: 1 },
        ],
        maxRequests: 10,
        timeoutMs: 1_500,
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    expect(timedOut.stoppedBy).toBe("timeout");
    expect(timedOut.phases[1]).toMatchObject({ requests: 2, ok: 0, errors: { timeout: 2 } });
    expect(timedOut.elapsedMs).toBeLessThan(2_500);
  });
});
