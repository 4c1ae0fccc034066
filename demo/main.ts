// `make demo` (start), `make demo-stop` (stop), `make demo-replay` (replay).
import { start } from "./live.js";
import { replay } from "./replay.js";
import { stop } from "./stop.js";

const commands: Record<string, () => Promise<void>> = { start, stop, replay };
const command = commands[process.argv[2] ?? ""];
if (command === undefined) {
  console.error("usage: tsx demo/main.ts start|stop|replay");
  process.exit(2);
}
try {
  await command();
} catch (e) {
  console.error(`\ndemo: ${(e as Error).message}`);
  process.exit(1);
}
