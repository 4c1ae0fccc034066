// Stand-in for the agent (`colo-hybrid.mjs agent --uuid HEX`) in the hook tests: installed as
// colo-hybrid.mjs beside the hook bundle, it records its start and its SIGTERM in events.log
// there and runs until SIGTERM. While a file hold-HEX stands there too, it takes its time after
// SIGTERM (as an agent restoring settings does) and exits once that file is gone.
import { appendFileSync, existsSync } from "node:fs";

const here = (name) => new URL(name, import.meta.url);
const instance = process.argv[process.argv.indexOf("--uuid") + 1];
const record = (event) =>
  appendFileSync(
    here("events.log"),
    `${JSON.stringify({ event, pid: process.pid, instance, argv: process.argv.slice(2) })}\n`,
  );

record("start");
process.on("SIGTERM", () => {
  record("sigterm");
  const exit = () =>
    existsSync(here(`hold-${instance}`)) ? setTimeout(exit, 50) : process.exit(0);
  exit();
});
setInterval(() => {}, 1 << 30);
