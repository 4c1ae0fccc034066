// The demo's Cockpit: cockpit-ws on a loopback port serving the installed page with a local
// session (no login: the session is root's, as `cockpit-ws --local-session` runs the bridge
// itself), kept up after the demo exits by cockpit-keeper.sh; and a screenshot of the page
// through the browser the tests use.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../test/cockpit/harness.js";
import { DAEMON_ENV } from "../test/support/exec.js";
import { isAlive, processGroup, waitGone } from "../test/support/processes.js";
import { acceptsConnection } from "../test/support/sockets.js";
import { waitUntil } from "../test/support/wait.js";
import { DEMO_DIR } from "./state.js";

const KEEPER = fileURLToPath(new URL("cockpit-keeper.sh", import.meta.url));
export const COCKPIT_LOG = join(DEMO_DIR, "cockpit-ws.log");

export const pageUrl = (port: number) =>
  `http://127.0.0.1:${port}/cockpit/@localhost/colo-hybrid/index.html`;

/** Starts cockpit-ws detached (cockpit-keeper.sh), in a process group of its own; returns its id. */
export async function serveCockpit(port: number): Promise<number> {
  const log = openSync(COCKPIT_LOG, "w");
  const keeper = spawn("/bin/sh", [KEEPER, String(port)], {
    env: DAEMON_ENV,
    stdio: ["ignore", log, log],
    detached: true,
  });
  closeSync(log);
  keeper.unref();
  const pgid = keeper.pid;
  if (pgid === undefined) throw new Error(`cannot start ${KEEPER}`);
  await waitUntil(
    `cockpit-ws on 127.0.0.1:${port} (its log: ${COCKPIT_LOG})`,
    () => acceptsConnection({ host: "127.0.0.1", port }),
    20_000,
  );
  return pgid;
}

/** Ends cockpit-ws and what its session started: its keeper first, so that it starts no other. */
export async function stopCockpit(pgid: number): Promise<void> {
  for (const pid of [pgid, ...processGroup(pgid).filter((p) => p !== pgid)]) {
    if (!isAlive(pid)) continue;
    process.kill(pid, "SIGTERM");
    await waitGone(pid, `process ${pid} of the demo's cockpit-ws`, 10_000);
  }
}

/**
 * Opens the page of the domain `uuid` on cockpit-ws at `port`, waits until it shows `text` (the
 * page's own words for what the demo waits for), and saves a screenshot to `path`.
 */
export async function screenshotPage(
  port: number,
  uuid: string,
  text: RegExp,
  path: string,
): Promise<void> {
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${pageUrl(port)}#/${uuid}`);
    await page.getByText(text).first().waitFor({ timeout: 120_000 });
    await page.evaluate(() => document.fonts.ready.then(() => undefined));
    await page.screenshot({ path, animations: "disabled" });
  } finally {
    await browser.stop();
  }
}
