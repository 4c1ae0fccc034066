// The floor of bench/secondary-stop-latency.ts: what the agent does to hold a secondary, and
// nothing else. Its own process, the same libvirt client reached the way the agent reaches its
// peer (connectPeer, one connection for the RESUME subscription and the `stop`), bundled like the
// agent; while armed, every RESUME of the domain is answered with a QMP `stop` at once: no
// controller, no policy, no heartbeat on the connection.
//
//   node stop-holder.mjs URI DOMAIN   (stdin: "arm" / "disarm" lines; stdout: "ready", "armed", "disarmed")
import { createInterface } from "node:readline";
import { connectPeer } from "../../src/libvirt/peer.js";

const [uri = "qemu:///system", name = ""] = process.argv.slice(2);
const lv = await connectPeer(uri);
const dom = await lv.lookupByName(name);
let armed = false;
const sub = await lv.onQemuMonitorEvent(dom, "RESUME", () => {
  if (!armed) return;
  lv.qmp(dom, "stop").catch((e: Error) => process.stderr.write(`stop: ${e.message}\n`));
});
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "arm") armed = true;
  else if (line === "disarm") armed = false;
  else continue;
  process.stdout.write(`${line}ed\n`);
}
await sub.close();
await lv.close();
