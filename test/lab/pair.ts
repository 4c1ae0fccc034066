// A real COLO pair on this host, brought up with the product's own code (planPair, protect):
// the lab guest as the plain domain, primary and secondary defined through libvirt, the TCG
// workaround on the primary where needed, replication started, a host port forwarded to the
// primary's web server. teardown() removes everything it made, also after a failure.
import { randomBytes } from "node:crypto";
import type { ParamPatch } from "../../src/colo/params.js";
import type { Libvirt } from "../../src/libvirt/api.js";
import { LibvirtClient } from "../../src/libvirt/client.js";
import { type NicPorts, type PairPorts, planPair } from "../../src/pair/plumbing.js";
import { type PairSide, protect } from "../../src/pair/protect.js";
import { type QemuInfo, qemuInfo } from "../../src/pair/qemu-info.js";
import { run } from "../support/exec.js";
import { isAlive } from "../support/processes.js";
import { startLibvirtd, TEST_DOMAIN_PREFIX, virsh } from "../support/services.js";
import { freePort } from "../support/sockets.js";
import { waitUntil } from "../support/wait.js";
import { buildGuest } from "./guest.js";
import { forwardPort, guestDomainXml } from "./guest-domain.js";
import { applyTcgWorkaround, type Workaround } from "./tcg-workaround.js";

/** A pair, however its guest is reached. */
export interface LabSides {
  lv: Libvirt;
  primary: PairSide;
  secondary: PairSide;
  ports: PairPorts;
  info: { primary: QemuInfo; secondary: QemuInfo };
  workaround: Workaround | undefined;
  teardown(): Promise<void>;
}

/** A pair behind QEMU user networking, reached on a forwarded host port. */
export interface LabPair extends LabSides {
  /** Host port forwarded to the primary's port 80. */
  port: number;
}

export interface PairOptions {
  /** x-checkpoint-delay in COLO, ms. */
  period: number;
  /** Policy parameters over the defaults, stored in both domains' metadata. */
  params?: ParamPatch;
  /** Start replication with the library (default) or the `colo-hybrid protect` command. */
  via?: "library" | "cli";
  /** Runs once both sides are up, before replication starts: a test's chance to try things. */
  beforeProtect?: (primary: PairSide, secondary: PairSide) => Promise<void>;
  log?: (line: string) => void;
}

/** Whether the guest's web server answers on the forwarded host port (a throw: not yet). */
export async function httpAnswers(port: number): Promise<boolean> {
  const r = await fetch(`http://127.0.0.1:${port}/cgi-bin/fixed`, {
    signal: AbortSignal.timeout(2000),
  });
  return r.ok;
}

/** Destroys and undefines the domains (those still there), and ends the TCG workaround's gdb. */
export async function removeLabDomains(
  names: readonly string[],
  gdbPid: number | undefined,
): Promise<void> {
  for (const n of names) {
    await virsh(["destroy", n]).catch(() => undefined);
    await virsh(["undefine", n]).catch(() => undefined);
  }
  // gdb leaves with its QEMU; a gdb that did not is ended by its PID.
  if (gdbPid !== undefined && isAlive(gdbPid)) process.kill(gdbPid, "SIGKILL");
}

export async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** The pair behind user networking, serving on a forwarded host port once it returns. */
export async function startPair(opts: PairOptions): Promise<LabPair> {
  const port = await freePort();
  const sides = await startSides(opts, [], async (primary) => {
    const name = primary.dom.name;
    await forwardPort(name, port);
    await waitUntil(
      `${name} to boot and serve HTTP on 127.0.0.1:${port}`,
      () => httpAnswers(port),
      180_000,
      500,
    );
  });
  return { ...sides, port };
}

/**
 * The pair with `nics` (<interface> elements; none: the guest's user-networking e1000), each
 * with its own four ports, brought up to COLO; `ready` runs then, and the pair is returned once
 * it has.
 */
export async function startSides(
  opts: PairOptions,
  nics: readonly string[],
  ready: (primary: PairSide) => Promise<void>,
): Promise<LabSides> {
  const log = opts.log ?? ((line: string) => console.log(`lab: ${line}`));
  await startLibvirtd();
  const guest = await buildGuest();
  const name = `${TEST_DOMAIN_PREFIX}colo-${randomBytes(3).toString("hex")}`;
  const more = Math.max(nics.length - 1, 0);
  const [mirror, compare, compareIn, compareOut, migration, ...rest] = (await distinctFreePorts(
    5 + 4 * more,
  )) as number[];
  const moreNics = Array.from({ length: more }, (_, k) => {
    const [m, c, i, o] = rest.slice(4 * k, 4 * k + 4) as number[];
    return { mirror: m, compare: c, compareIn: i, compareOut: o } as NicPorts;
  });
  const ports = {
    ...({ mirror, compare, compareIn, compareOut, migration } as PairPorts),
    ...(more > 0 && { moreNics }),
  };
  const nic = nics.length > 0 ? nics.join("\n    ") : undefined;
  const plan = planPair(guestDomainXml({ name, ...guest, ...(nic && { nic }) }), {
    secondaryUri: "qemu:///system",
    address: "127.0.0.1",
    ports,
    period: opts.period,
    ...(opts.params && { params: opts.params }),
  });
  const lv = await LibvirtClient.connect("qemu:///system");
  const made: string[] = [];
  let gdbPid: number | undefined;
  const teardown = async () => {
    await removeLabDomains(made, gdbPid);
    await lv.close();
  };
  try {
    await lv.defineXml(plan.secondary.xml);
    made.push(plan.secondary.name);
    await lv.defineXml(plan.primary.xml);
    made.push(plan.primary.name);
    // The secondary first: the primary's start waits until the secondary has connected. Both
    // stay paused until COLO runs: before that, colo-compare holds the primary's packets for
    // want of the secondary's and the service would crawl.
    await virsh(["start", plan.secondary.name, "--paused"]);
    await virsh(["start", plan.primary.name, "--paused"]);
    const primary: PairSide = { lv, dom: await lv.lookupByName(plan.primary.name) };
    const secondary: PairSide = { lv, dom: await lv.lookupByName(plan.secondary.name) };
    const info = {
      primary: await qemuInfo(lv, primary.dom),
      secondary: await qemuInfo(lv, secondary.dom),
    };
    const workaround = await applyTcgWorkaround(plan.primary.name, info.primary, log);
    gdbPid = workaround?.gdbPid;
    await opts.beforeProtect?.(primary, secondary);
    if (opts.via === "cli") {
      // The user's way: `colo-hybrid protect PRIMARY`, reading the pair from its metadata.
      const r = await run(
        process.execPath,
        ["dist/colo-hybrid.mjs", "protect", plan.primary.name],
        {
          timeoutMs: 180_000,
        },
      );
      log(`colo-hybrid protect: ${r.stdout.trim()}`);
    } else {
      const result = await protect(primary, secondary, {
        period: opts.period,
        migrationUri: `tcp:127.0.0.1:${ports.migration}`,
        onProgress: (p) =>
          log(
            `protect: ${p.phase} after ${p.elapsedMs} ms${p.primary ? ` (primary ${p.primary}, secondary ${p.secondary})` : ""}`,
          ),
      });
      log(
        `COLO after ${result.elapsedMs} ms: ${plan.primary.name} (QEMU ${info.primary.text}) -> ${plan.secondary.name}`,
      );
    }
    await ready(primary);
    return { lv, primary, secondary, ports, info, workaround, teardown };
  } catch (e) {
    await teardown();
    throw e;
  }
}
