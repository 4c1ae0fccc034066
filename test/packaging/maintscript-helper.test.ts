// The package scripts' helper, in a mount namespace of its own with an empty /run. Pid files
// outlive their processes, and pids are reused: it signals only a process that is what the pid
// file says. stop-agents moves a supervisor's pid file aside as the hook does, signals it, and
// waits for it to end.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { run } from "../support/exec.js";

const HELPER = "packaging/debian/maintscript-helper";

// $1: node; $2..$5: the UUIDs of a domain with its supervisor, of one whose pid file names
// another process, of one whose pid file holds no pid, and of one whose pid file names a
// look-alike: the same command line, run by another user.
const SCRIPT = `
set -eu
mount -t tmpfs tmpfs /run
mkdir /run/colo-hybrid
"$1" -e 'process.on("SIGTERM", () => setTimeout(() => process.exit(0), 300));
  require("node:fs").writeFileSync("/run/ready", ""); setInterval(() => {}, 1000)' \\
  supervise --uuid "$2" &
supervisor=$!
while [ ! -e /run/ready ]; do sleep 0.05; done
sleep 60 &
other=$!
setpriv --reuid=65534 --regid=65534 --clear-groups -- "$1" -e 'setInterval(() => {}, 1000)' \
  supervise --uuid "$5" &
lookalike=$!
echo "$supervisor" >"/run/colo-hybrid/$2.pid"
echo "$other" >"/run/colo-hybrid/$3.pid"
echo junk >"/run/colo-hybrid/$4.pid"
echo "$lookalike" >"/run/colo-hybrid/$5.pid"
while ! tr '\\0' ' ' </proc/$lookalike/cmdline | grep -q supervise; do sleep 0.05; done
sh ${HELPER} stop-agents
echo "supervisor $supervisor: $(tr -d '\\0' </proc/$supervisor/cmdline | wc -c) bytes of cmdline"
wait "$supervisor" && echo "supervisor exited 0"
kill -0 "$other" && echo "other still runs"
kill -0 "$lookalike" && echo "look-alike still runs"
kill "$other" "$lookalike"
ls /run/colo-hybrid
`;

describe("maintscript-helper, without systemd", () => {
  it("stop-agents stops the supervisors the pid files name, and nothing else", async () => {
    const [mine, reused, junk, lookalike] = [
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
    ];
    const { stdout } = await run("unshare", [
      "--mount",
      "--propagation=private",
      "sh",
      "-c",
      SCRIPT,
      "sh",
      process.execPath,
      mine,
      reused,
      junk,
      lookalike,
    ]);
    const supervisor = /^supervisor (\d+):/m.exec(stdout)?.[1];
    expect(stdout).toContain(
      `colo-hybrid: stopping the agents' supervisors: ${supervisor}:${mine}\n`,
    );
    // Gone by the time the helper returned: a zombie, with no command line left.
    expect(stdout).toContain(`supervisor ${supervisor}: 0 bytes of cmdline`);
    expect(stdout).toContain("supervisor exited 0");
    expect(stdout).toContain("other still runs");
    expect(stdout).toContain("look-alike still runs");
    const files = stdout.trim().split("\n").slice(-4).sort();
    expect(files).toEqual(
      [`${mine}.${supervisor}.stopping`, `${reused}.pid`, `${junk}.pid`, `${lookalike}.pid`].sort(),
    );
  });

  it("reload-libvirt leaves alone what a stale libvirtd pid file names", async () => {
    const { stdout } = await run("unshare", [
      "--mount",
      "--propagation=private",
      "sh",
      "-c",
      `set -eu
      mount -t tmpfs tmpfs /run
      sleep 60 &
      echo $! >/run/libvirtd.pid
      sh ${HELPER} reload-libvirt
      kill -0 $! && echo "it still runs"
      kill $!`,
    ]);
    expect(stdout).toBe(
      "colo-hybrid: libvirtd is not running: it finds the hook when it starts\nit still runs\n",
    );
  });
});
