// Runs one network fault drill (drill-outcome.ts) on a pair across the lab hosts: a light steady
// load from the guests' LAN client (a GET every 200 ms), the primary QEMU's STOP/RESUME/COLO_EXIT
// through the product's LibvirtClient (this machine reaches A over the LAN's TLS), the fault made
// on the secondary's host B and undone, then both sides as their agents report them and as their
// QEMUs answer. Every fault is on B: a partition of A would cut this machine off A too.
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentProperties } from "../../../src/dbus/values.js";
import type { DomainRef, Libvirt } from "../../../src/libvirt/api.js";
import { LibvirtClient } from "../../../src/libvirt/client.js";
import { coloStateOf } from "../../../src/pair/colo-state.js";
import { readSide } from "../../../src/pair/pair-state.js";
import { waitUntil } from "../../support/wait.js";
import { FIXED_BODY } from "../guest.js";
import {
  type Bounds,
  boundsOf,
  type Drill,
  type FaultSpec,
  type Outcome,
  outcomeOf,
  type Recording,
  type SideAfter,
} from "./drill-outcome.js";
import {
  delay,
  type Fault,
  libvirtdUnreachable,
  loss,
  type Partition,
  partition,
} from "./faults.js";
import type { LabHost } from "./hosts.js";
import { type HostsPair, startHostsPair } from "./pair.js";

const REQUEST_EVERY_MS = 200;
const REQUEST_TIMEOUT_S = 5;
/** Load before the fault: the client's answers are flowing. */
const LEAD_MS = 2000;
/** After the undo: the pair settles (reconnects, late COLO_EXITs), the client goes on. */
const SETTLE_MS = 5000;
/** A QEMU that does not answer its state in this long is reported as not answering. */
const READ_TIMEOUT_MS = 10_000;
const OWN_EVENTS = ["STOP", "RESUME", "COLO_EXIT"];

function makeFault(host: LabHost, f: FaultSpec): Promise<Fault | Partition> {
  switch (f.kind) {
    case "none":
      return Promise.resolve({ undo: async () => {} });
    case "loss":
      return loss(host, f.p);
    case "delay":
      return delay(host, f.ms);
    case "partition":
      return partition(host, f.seconds);
    case "libvirtd-unreachable":
      return libvirtdUnreachable(host);
  }
}

/** libvirt of a lab host from this machine, over TLS with the lab's client certificate. */
export function connectHost(pair: HostsPair, host: LabHost): Promise<LibvirtClient> {
  return LibvirtClient.connect(host.tlsUri, {
    params: new Map([["pkipath", pair.lab.pkipath]]),
    connectTimeout: READ_TIMEOUT_MS,
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, sleep(ms).then(() => undefined)]);
}

async function sideAfter(
  { ColoState: agent, ColoReason: agentReason }: AgentProperties,
  read: () => Promise<{ lv: Libvirt; dom: DomainRef }>,
): Promise<SideAfter> {
  try {
    const state = await withTimeout(
      read().then(({ lv, dom }) => readSide(lv, dom)),
      READ_TIMEOUT_MS,
    );
    if (state === undefined)
      return { agent, agentReason, qemu: undefined, run: undefined, seen: "no answer" };
    const seen = `migration ${state.migration}, COLO ${state.coloMode} (last ${state.lastColoMode}, ${state.coloReason}), ${state.run}`;
    return { agent, agentReason, qemu: coloStateOf(state), run: state.run, seen };
  } catch (e) {
    return { agent, agentReason, qemu: undefined, run: undefined, seen: (e as Error).message };
  }
}

export async function runDrill(pair: HostsPair, drill: Drill): Promise<Recording> {
  const lvA = await connectHost(pair, pair.a);
  let lvB: LibvirtClient | undefined;
  const primaryEvents: Recording["primaryEvents"] = [];
  const requests: Recording["requests"] = [];
  // Also ended by a drill that fails half-way (its fault goes with the lab's stop).
  let loading = true;
  try {
    const domA = await lvA.lookupByName(pair.name);
    for (const name of OWN_EVENTS)
      await lvA.onQemuMonitorEvent(domA, name, (e) =>
        primaryEvents.push({
          event: e.event,
          t: e.timestamp,
          ...(e.event === "COLO_EXIT" && {
            reason: String((e.details as { reason?: unknown } | undefined)?.reason),
          }),
        }),
      );

    const inFlight: Promise<void>[] = [];
    const load = (async () => {
      while (loading) {
        const sent = Date.now();
        inFlight.push(
          pair.lan.client.get("/cgi-bin/fixed", REQUEST_TIMEOUT_S).then(
            (body) => {
              const ok = body === FIXED_BODY;
              requests.push({
                sent,
                done: Date.now(),
                ok,
                ...(!ok && { error: `body ${JSON.stringify(body.slice(0, 60))}` }),
              });
            },
            (e: Error) =>
              void requests.push({
                sent,
                done: Date.now(),
                ok: false,
                error: e.message.split("\n").at(-1) ?? "",
              }),
          ),
        );
        await sleep(REQUEST_EVERY_MS);
      }
    })();

    await sleep(LEAD_MS);
    const start = Date.now();
    const fault = await makeFault(pair.b, drill.fault);
    // A partition that heals by itself ends then; the drill watches on to its end.
    const healed = "healed" in fault ? fault.healed : undefined;
    let end: number;
    if (healed !== undefined) {
      await healed;
      end = Date.now();
      await sleep(start + drill.watchMs - end);
    } else {
      await sleep(drill.watchMs);
      await fault.undo();
      end = Date.now();
    }
    await sleep(SETTLE_MS);
    loading = false;
    await load;
    await Promise.all(inFlight);
    const stop = Date.now();

    const primaryProps = await pair.props();
    const secondaryProps = await pair.props(pair.secondaryBus);
    const primary = await sideAfter(primaryProps, async () => ({ lv: lvA, dom: domA }));
    const secondary = await sideAfter(secondaryProps, async () => {
      lvB = await connectHost(pair, pair.b);
      return { lv: lvB, dom: await lvB.lookupByName(pair.secondaryName) };
    });
    return {
      start,
      end,
      stop,
      primaryEvents,
      requests,
      history: primaryProps.History,
      mode: primaryProps.Mode,
      primary,
      secondary,
    };
  } finally {
    loading = false;
    await lvA.close();
    await lvB?.close();
  }
}

/**
 * Drills one after another: on the same pair while it stays in COLO, on a fresh one after a
 * drill that ended COLO (the test and the bench alike).
 */
export function drillSeries(log: (line: string) => void) {
  let pair: HostsPair | undefined;
  let spent = true;
  const inColo = async (): Promise<HostsPair> => {
    if (pair !== undefined && !spent) return pair;
    await pair?.teardown();
    pair = await startHostsPair({ period: 3000, passiveCount: 20, basePort: 9000, log });
    const p = pair;
    for (const bus of [p.primaryBus, p.secondaryBus])
      await waitUntil(
        `${bus} in COLO`,
        async () => (await p.props(bus)).ColoState === "colo",
        60_000,
        200,
      );
    spent = false;
    return p;
  };
  return {
    /** The drill on a pair in COLO: what was recorded, what it came to, and the bounds. */
    async run(drill: Drill): Promise<{ recording: Recording; outcome: Outcome; bounds: Bounds }> {
      const p = await inColo();
      const bounds = boundsOf(Number((await p.props()).Parameters["peer-timeout"]));
      const recording = await runDrill(p, drill);
      const outcome = outcomeOf(recording);
      spent = outcome.coloEnded !== undefined || recording.primary.agent !== "colo";
      return { recording, outcome, bounds };
    },
    close: async () => {
      await pair?.teardown();
    },
  };
}
