// The checkpoint pause of an idle COLO pair across the two lab hosts (make lab-hosts: the
// secondary on host B, over the lab's LAN, test/lab/hosts/pair.ts) against the anchor, the
// same pair on this one host (test/lab/pair.ts), both measured in this run: the median of each
// STOP to RESUME of the primary's QEMU over IDLE_MS at a period of PERIOD ms.
// Needs root and the lab lock (flock /tmp/colo-lab.lock npx tsx bench/remote-pause.ts); the
// pairs and hosts it makes are removed at the end.
// Last line: across hosts / one host.
import { connectHost } from "../test/lab/hosts/drill.js";
import { startHostsPair } from "../test/lab/hosts/pair.js";
import { startSides } from "../test/lab/pair.js";
import { idlePause } from "./support/idle-pause.js";

const PERIOD = 1000;
const IDLE_MS = 30_000;
const log = (line: string) => console.error(`  ${line}`);

let oneHost: number;
{
  const pair = await startSides({ period: PERIOD, log }, [], async () => undefined);
  try {
    oneHost = await idlePause(pair.lv, pair.primary.dom, IDLE_MS);
  } finally {
    await pair.teardown();
  }
}
let acrossHosts: number;
{
  const pair = await startHostsPair({ period: PERIOD, passiveCount: 20, basePort: 9000, log });
  try {
    const lv = await connectHost(pair, pair.a);
    try {
      acrossHosts = await idlePause(lv, await lv.lookupByName(pair.name), IDLE_MS);
    } finally {
      await lv.close();
    }
  } finally {
    await pair.teardown();
  }
}
console.log(
  `idle COLO pair, period ${PERIOD} ms, median checkpoint pause over ${IDLE_MS / 1000} s:`,
);
console.log(`  one host (this machine's libvirtd)     ${oneHost.toFixed(1)} ms`);
console.log(`  across hosts (secondary on lab host B) ${acrossHosts.toFixed(1)} ms`);
console.log(`checkpoint pause across hosts / one host: ${(acrossHosts / oneHost).toFixed(2)}`);
