// The lab's runtime workaround for two QEMU 7.2 bugs that hit a COLO primary under TCG only
// (../shared/colo-lab.md): gdb stays attached to the primary's QEMU for its whole life,
//  1. memory_global_after_dirty_log_sync returns at once (its first byte becomes `ret`): the
//     checkpoint calls it without the big lock and TCG's run_on_cpu deadlocks the migration
//     thread; the vCPUs are stopped during every checkpoint, so skipping the wait is safe;
//  2. at each call, tlb_flush(cpu 0) instead (1-vCPU guests), so TCG's writes mark pages dirty
//     again (fixed upstream in QEMU 9.0, commit 03bfc2188f).
// Only the lab does this; the product never attaches to a QEMU process.
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { QemuInfo } from "../../src/pair/qemu-info.js";
import { BUILD_DIR } from "../support/paths.js";
import { waitUntil } from "../support/wait.js";

// No inferior function call: gdb 13 cannot restore a call's registers on CPUs with AMX ("Couldn't
// write extended state status: Bad address"), and then detaches, leaving only the `ret`. At the
// breakpoint the function is replaced by a jump into tlb_flush(first vCPU), which returns to its
// caller: gdb writes general registers only. `cpus` is the head of QEMU's vCPU list.
const SCRIPT = `set pagination off
set confirm off
handle SIGUSR1 SIGUSR2 SIGPIPE SIG38 SIG39 SIG40 nostop noprint pass
set *(unsigned char *)memory_global_after_dirty_log_sync = 0xc3
break *memory_global_after_dirty_log_sync
commands
silent
set $rdi = *(long *)&cpus
set $pc = tlb_flush
continue
end
echo colo-hybrid-lab: workaround armed\\n
continue
`;

export interface Workaround {
  qemuPid: number;
  gdbPid: number;
  log: string;
}

/** Whether a primary on this QEMU needs the workaround: TCG on QEMU before 9.0. */
export function needsTcgWorkaround(info: QemuInfo): boolean {
  return info.accelerator === "tcg" && info.version.major < 9;
}

/**
 * Attaches gdb to the domain's QEMU when it needs the workaround; says what it did on `log`.
 * gdb leaves by itself when QEMU exits.
 */
export async function applyTcgWorkaround(
  domainName: string,
  info: QemuInfo,
  log: (line: string) => void,
): Promise<Workaround | undefined> {
  if (!needsTcgWorkaround(info)) {
    log(`${domainName}: QEMU ${info.text} under ${info.accelerator}: no TCG workaround needed`);
    return undefined;
  }
  const dir = join(BUILD_DIR, "lab");
  mkdirSync(dir, { recursive: true });
  const script = join(dir, "tcg-workaround.gdb");
  writeFileSync(script, SCRIPT);
  const qemuPid = Number(readFileSync(`/run/libvirt/qemu/${domainName}.pid`, "utf8").trim());
  const logFile = join(dir, `gdb-${domainName}.log`);
  const out = openSync(logFile, "w");
  const gdb = spawn("gdb", ["-q", "-nx", "-p", String(qemuPid), "-batch", "-x", script], {
    stdio: ["ignore", out, out],
    detached: true,
  });
  gdb.unref();
  await waitUntil(
    `gdb to arm the TCG workaround on ${domainName} (log: ${logFile})`,
    () => readFileSync(logFile, "utf8").includes("colo-hybrid-lab: workaround armed"),
    60_000,
  );
  log(
    `${domainName}: QEMU ${info.text} under TCG: applied the QEMU 7.2 TCG COLO workaround ` +
      `(gdb ${gdb.pid} attached to QEMU ${qemuPid})`,
  );
  return { qemuPid, gdbPid: gdb.pid as number, log: logFile };
}
