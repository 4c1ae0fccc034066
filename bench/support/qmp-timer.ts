// One side of bench/qmp-roundtrip.ts: colo-hybrid's RPC client, in a process of its own, bundled
// and started as an agent is, driven exactly as the python3-libvirt anchor (python-qmp.py): one
// persistent connection; after WARMUP untimed calls "ready", then for each line N on stdin the
// times (ms) of N round trips of COMMAND as one JSON list.
//
//   node qmp-timer.mjs URI DOMAIN COMMAND WARMUP
import { createInterface } from "node:readline";
import { LibvirtClient } from "../../src/libvirt/client.js";

const [uri = "qemu:///system", name = "", command = "query-status", warmup = "0"] =
  process.argv.slice(2);
const lv = await LibvirtClient.connect(uri);
const dom = await lv.lookupByName(name);
for (let i = 0; i < Number(warmup); i++) await lv.qmp(dom, command);
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  const times: number[] = [];
  for (let i = 0; i < Number(line); i++) {
    const t0 = performance.now();
    await lv.qmp(dom, command);
    times.push(performance.now() - t0);
  }
  process.stdout.write(`${JSON.stringify(times)}\n`);
}
await lv.close();
