// `make demo-stop`: removes what the demo added, as its state says (demo/state.ts), and says so:
// cockpit-ws and its session, both domains (their agents end with them), gdb, and the packages
// when the demo installed them (the hook, the agents' supervisors, the bus policy, the page).
import { existsSync } from "node:fs";
import { HOOK, LIB, NAMES, purgeIfInstalled } from "../test/packaging/packages.js";
import { startLibvirtd } from "../test/support/libvirtd.js";
import { isAlive, processesRunning } from "../test/support/processes.js";
import { virsh } from "../test/support/virsh.js";
import { stopCockpit } from "./cockpit.js";
import { say, step } from "./progress.js";
import { forgetState, readState } from "./state.js";

export async function stop(): Promise<void> {
  const state = readState();
  if (state === undefined) {
    say("no demo is set up here: nothing to remove");
    return;
  }
  const removed: string[] = [];
  if (state.cockpitPgid !== undefined) {
    await step("stopping cockpit-ws", () => stopCockpit(state.cockpitPgid as number));
    removed.push(`cockpit-ws on 127.0.0.1:${state.cockpitPort}`);
  }
  if (state.domains.length > 0) {
    await step(`removing ${state.domains.join(" and ")}`, async () => {
      await startLibvirtd();
      for (const name of state.domains) {
        await virsh(["destroy", name]).catch(() => undefined);
        await virsh(["undefine", name]).catch(() => undefined);
      }
    });
    removed.push(`the domains ${state.domains.join(" and ")}`);
  }
  // gdb leaves with the QEMU it was attached to; make sure.
  if (state.gdbPid !== undefined && isAlive(state.gdbPid)) process.kill(state.gdbPid, "SIGKILL");
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
