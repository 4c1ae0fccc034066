// `make demo-stop`: removes what the demo added, as its state says (demo/state.ts), and says so:
// cockpit-ws and its session, the load's forwarder, the lab hosts (ON=lab-hosts), both domains (their agents end with them) by
// `colo-hybrid pair remove` (which deletes the secondary's images), gdb, the primary's disk, the
// image directory and its pool, the lab bridge and its client namespace, and the packages when
// the demo installed them (the hook, the agents' supervisors, the bus policy, the page).
import { existsSync, rmSync } from "node:fs";
import { closeForward, labBridgeNames, removeLabBridge } from "../test/lab/bridge.js";
import { stopLabHosts } from "../test/lab/hosts/hosts.js";
import { HOOK, LIB, NAMES, purgeIfInstalled } from "../test/packaging/packages.js";
import { DAEMON_ENV, run } from "../test/support/exec.js";
import { startLibvirtd } from "../test/support/libvirtd.js";
import { isAlive, processesRunning } from "../test/support/processes.js";
import { virsh } from "../test/support/virsh.js";
import { stopCockpit } from "./cockpit.js";
import { COMMAND, DOMAIN } from "./names.js";
import { indent, say, step } from "./progress.js";
import { type DemoState, forgetState, readState } from "./state.js";

/**
 * Both domains gone: destroyed, the pair undone by the product (its output returned), then
 * whatever is still defined (a pair never made, or half made) undefined.
 */
async function removeDomains(state: DemoState): Promise<string> {
  await startLibvirtd();
  for (const name of state.domains) await virsh(["destroy", name]).catch(() => undefined);
  // No command, no pair: only the installed command makes it.
  const undone = existsSync(COMMAND)
    ? await run(COMMAND, ["pair", "remove", DOMAIN], { env: DAEMON_ENV }).then(
        (r) => r.stdout,
        (e: Error) => `pair remove: ${e.message}`,
      )
    : "";
  for (const name of state.domains) await virsh(["undefine", name]).catch(() => undefined);
  return undone;
}

/** The pool over the image directory, the directory and the primary's disk. */
async function removeImages(state: DemoState): Promise<void> {
  if (state.pool !== undefined) {
    await startLibvirtd();
    await virsh(["pool-destroy", state.pool]).catch(() => undefined);
    await virsh(["pool-undefine", state.pool]).catch(() => undefined);
  }
  for (const path of [state.imageDir, state.disk])
    if (path !== undefined) rmSync(path, { recursive: true, force: true });
}

export async function stop(): Promise<void> {
  const state = readState();
  if (state === undefined) {
    say("no demo is set up here: nothing to remove");
    return;
  }
  const { cockpitPgid, forwarder, bridgeTag } = state;
  const removed: string[] = [];
  if (cockpitPgid !== undefined) {
    await step("stopping cockpit-ws", () => stopCockpit(cockpitPgid));
    removed.push(`cockpit-ws on 127.0.0.1:${state.cockpitPort}`);
  }
  if (forwarder !== undefined) {
    await step("stopping the load's forwarder", () => closeForward(forwarder));
    removed.push(`the forwarder on ${forwarder.socketPath}`);
  }
  if (state.labHosts) {
    await step(
      "stopping the lab hosts, and with them the pair, its agents, images and LAN",
      stopLabHosts,
    );
    removed.push("the lab hosts with the pair on them");
  }
  if (state.domains.length > 0) {
    const undone = await step(`removing ${state.domains.join(" and ")}`, () =>
      removeDomains(state),
    );
    process.stdout.write(indent(undone));
    removed.push(`the domains ${state.domains.join(" and ")}`);
  }
  // gdb leaves with the QEMU it was attached to; make sure.
  if (state.gdbPid !== undefined && isAlive(state.gdbPid)) process.kill(state.gdbPid, "SIGKILL");
  if (state.disk !== undefined || state.pool !== undefined) {
    await step("removing the disk images and their pool", () => removeImages(state));
    const what = [state.disk, state.imageDir].filter((p) => p !== undefined).join(" and ");
    removed.push(`the images ${what}${state.pool ? ` with the pool ${state.pool}` : ""}`);
  }
  if (bridgeTag !== undefined) {
    const { bridge, netns } = labBridgeNames(bridgeTag);
    await step(`removing the bridge ${bridge} and the namespace ${netns}`, () =>
      removeLabBridge(bridgeTag),
    );
    removed.push(`the bridge ${bridge} and the namespace ${netns}`);
  }
  if (state.packages) {
    await step(`purging ${NAMES.join(" and ")}`, purgeIfInstalled);
    const left = processesRunning(LIB).map((p) => p.pid);
    if (left.length > 0 || existsSync(HOOK))
      throw new Error(`after the purge: processes ${left.join(", ")} of ${LIB}, hook ${HOOK}`);
    removed.push(
      `the packages ${NAMES.join(" and ")} (the hook, the agents and their supervisors, the bus policy, the page)`,
    );
  }
  forgetState();
  say(`removed ${removed.join("; ")}`);
}
