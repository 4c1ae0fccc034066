// `make demo [ON=lab-hosts]` (start [this-host|lab-hosts]), `make demo-stop` (stop),
// `make demo-replay` (replay).
import { start } from "./live.js";
import { replay } from "./replay.js";
import type { SiteKind } from "./site.js";
import { stop } from "./stop.js";

const SITES: readonly SiteKind[] = ["this-host", "lab-hosts"];
const [name, site = "this-host"] = process.argv.slice(2);
const commands: Record<string, () => Promise<void>> = {
  start: () => start(site as SiteKind),
  stop,
  replay,
};
const command = commands[name ?? ""];
if (command === undefined || (name === "start" && !SITES.includes(site as SiteKind))) {
  console.error(`usage: tsx demo/main.ts start [${SITES.join("|")}] | stop | replay`);
  process.exit(2);
}
try {
  await command();
} catch (e) {
  console.error(`\ndemo: ${(e as Error).message}`);
  process.exit(1);
}
