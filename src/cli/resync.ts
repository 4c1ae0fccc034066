// `colo-hybrid protect --resync DOMAIN --secondary-uri URI`: re-protection by hand, on the
// survivor's host (src/pair/reprotect.ts does it; the resource agent runs the same two halves on
// two nodes).
import { type AgentClient, withAgentOf } from "../dbus/client.js";
import { type DomainRef, type Libvirt, XML_SECURE_INACTIVE } from "../libvirt/api.js";
import { connectLibvirt } from "../libvirt/connect.js";
import { LibvirtError } from "../libvirt/errors.js";
import { towardPeer } from "../libvirt/local-address.js";
import { connectPeer, replicationHost } from "../libvirt/peer.js";
import { peerUriProblem } from "../libvirt/peer-uri.js";
import { readDomainConfig } from "../libvirt/xml/domain.js";
import { parseXml, XmlError } from "../libvirt/xml/tree.js";
import { DEFAULT_ADDRESS, DEFAULT_PRIMARY_URI } from "../pair/plumbing.js";
import type { ProtectProgress } from "../pair/protect.js";
import { qemuInfo } from "../pair/qemu-info.js";
import {
  ReprotectError,
  resyncSurvivor,
  sideThere,
  startSecondary,
  survivorDiskSizes,
  whyNotAlone,
} from "../pair/reprotect.js";
import { planResync, ResyncError } from "../pair/resync.js";
import { CliError } from "./errors.js";
import { domainNamed } from "./pair.js";

export interface ResyncArgs {
  domain: string;
  connectUri: string;
  secondaryUri: string;
  imageDir?: string;
  qemuVersion?: { major: number; minor: number };
  timeoutMs: number;
  progress: (p: ProtectProgress) => void;
}

/** Says what happens; throws CliError with the reason and what was left where. */
export async function resync(a: ResyncArgs, err: NodeJS.WritableStream): Promise<void> {
  const bad = peerUriProblem(a.secondaryUri);
  if (bad !== undefined) throw new CliError(`--secondary-uri: ${bad}`);
  const started = performance.now();
  const opened: Libvirt[] = [];
  try {
    const lv = await connectLibvirt(a.connectUri);
    opened.push(lv);
    const dom = await domainNamed(lv, a.domain);
    const xml = await lv.domainXml(dom, XML_SECURE_INACTIVE);
    const config = readDomainConfig(parseXml(xml));
    const meta = config.metadata;
    if (!meta?.ok)
      throw new CliError(
        `domain '${a.domain}' has ${meta ? "bad" : "no"} colo-hybrid metadata: it is no side of a pair that 'colo-hybrid pair create' made`,
      );
    const host =
      a.secondaryUri === a.connectUri
        ? { lv, uri: a.secondaryUri }
        : { lv: await connectPeer(a.secondaryUri), uri: a.secondaryUri };
    if (host.lv !== lv) opened.push(host.lv);
    const survivor = { lv, dom };
    const notAlone = await whyNotAlone(survivor, meta.value.role);
    if (notAlone !== undefined) throw new CliError(notAlone);
    const secondaryName = meta.value.peer.domain;
    const there = await sideThere(host, secondaryName, a.domain);
    const toward = await towardPeer(a.secondaryUri);
    const qemu = await qemuInfo(lv, dom);
    const plan = planResync(xml, {
      secondaryUri: a.secondaryUri,
      primaryUri: toward?.primaryUri ?? DEFAULT_PRIMARY_URI,
      address: toward?.address ?? DEFAULT_ADDRESS,
      replicationHost: replicationHost(a.secondaryUri),
      qemuVersion: a.qemuVersion ?? qemu.version,
      ...(a.imageDir !== undefined && { imageDir: a.imageDir }),
      ...(there?.state === "stale" && { secondaryUuid: there.uuid }),
    });
    for (const w of plan.pair.warnings) err.write(`warning: ${w}\n`);
    let secondary: DomainRef;
    if (there?.state === "waiting") {
      err.write(`resync: '${secondaryName}' on ${host.uri} waits for the stream already\n`);
      secondary = there.dom;
    } else {
      err.write(
        `resync: ${there === undefined ? "defining" : `replacing the stale '${secondaryName}' with`} a new secondary '${secondaryName}' on ${host.uri}, started paused\n`,
      );
      secondary = await startSecondary(
        plan,
        host,
        there,
        await survivorDiskSizes(survivor, plan.pair.diskTargets),
      );
    }
    const waiting = `'${secondaryName}' on ${host.uri} still waits for the stream: run this again, or stop it (virsh -c ${host.uri} destroy ${secondaryName})`;
    // The survivor's agent holds its QEMU: it does its half when it runs.
    const byAgent = await withAgentOf(dom.uuid, async (client, bus) => {
      await client.resync(bus, a.secondaryUri);
      err.write(`resync: '${a.domain}''s agent copies the disks and starts COLO\n`);
      await agentDone(client, bus, a.timeoutMs, err);
      return true;
    }).catch((e: unknown) => {
      throw new CliError(`${(e as Error).message}; ${waiting}`);
    });
    if (byAgent === undefined) {
      err.write(
        `note: no agent runs for '${a.domain}': this command copies the disks and starts COLO\n`,
      );
      await resyncSurvivor(
        plan,
        survivor,
        { lv: host.lv, dom: secondary },
        {
          secondaryUri: a.secondaryUri,
          timeoutMs: a.timeoutMs,
          onProgress: a.progress,
        },
      ).catch((e: unknown) => {
        if (!(e instanceof ReprotectError)) throw e;
        throw new CliError(`${e.message}; ${waiting}`);
      });
    }
    process.stdout.write(
      `Domain '${a.domain}' protected again: COLO with '${secondaryName}' on ${host.uri} after ${((performance.now() - started) / 1000).toFixed(1)} s; '${a.domain}' is the pair's primary now\n`,
    );
  } catch (e) {
    if (e instanceof ReprotectError || e instanceof ResyncError || e instanceof XmlError)
      throw new CliError(e.message);
    if (e instanceof LibvirtError) throw new CliError(e.message);
    throw e;
  } finally {
    await Promise.allSettled(opened.map((lv) => lv.close()));
  }
}

const POLL_MS = 250;

/** Until the agent's re-protection ends: in COLO as the primary, or failed (its LastError). */
async function agentDone(
  client: AgentClient,
  bus: string,
  timeoutMs: number,
  err: NodeJS.WritableStream,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let said = "";
  for (;;) {
    const p = await client.properties(bus);
    const now = `${p.ColoState}${p.ColoReason ? ` (${p.ColoReason})` : ""}`;
    if (now !== said) err.write(`resync: ${now}\n`);
    said = now;
    if (p.ColoState === "colo" && p.Role === "primary") return;
    if (p.ColoState !== "starting" && p.LastError.startsWith("re-protection"))
      throw new Error(p.LastError);
    if (performance.now() > deadline)
      throw new Error(`not in COLO within ${timeoutMs / 1000} s (${now})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
