// The Cockpit page in a real browser against a real cockpit-ws, for end-to-end tests: the built
// page installed by `make install-cockpit` into a directory of its own (the bridge finds it
// through XDG_DATA_HOME, so nothing is written to /usr or /root), cockpit-ws on a free loopback
// port with a local session (no login: the session is this user's, root here), and Debian's
// chromium driven by playwright-core. The lab test reuses startPageSession with a real agent;
// with `bridgePrefix` the session's bridge (and so all the page reads and runs) can be put in a
// lab host's namespaces.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { hasExited, watchDaemon } from "../support/daemon.js";
import { DAEMON_ENV, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";
import { processGroup, waitGone } from "../support/processes.js";
import { freePort } from "../support/sockets.js";
import { ensureSystemBus } from "../support/system-bus.js";

const E2E_DIR = join(BUILD_DIR, "cockpit-e2e");
export const SCREENSHOT_DIR = join(BUILD_DIR, "screenshots");
const COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws";
const CHROMIUM = "/usr/bin/chromium";
/** The page's path under cockpit-ws: the package name is its directory's. */
const PAGE_PATH = "/cockpit/@localhost/colo-hybrid/index.html";

/** Installs the built page as a package would, under `root`; returns the XDG_DATA_HOME for it. */
export async function installPage(root = join(E2E_DIR, "root")): Promise<string> {
  await rm(root, { recursive: true, force: true });
  await run("make", ["--no-print-directory", "install-cockpit", `DESTDIR=${root}`, "PREFIX=/usr"], {
    timeoutMs: 120_000,
  });
  return join(root, "usr/share");
}

/** For a shell script: the argument in single quotes. */
const shellQuote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * An executable that runs cockpit-bridge under `prefix` ("nsenter ARGS --", "env PATH=..."), in
 * a new directory: cockpit-ws's --local-session takes a program, not a command line.
 */
async function bridgeWrapper(prefix: readonly string[]): Promise<{ path: string; dir: string }> {
  await mkdir(E2E_DIR, { recursive: true });
  const dir = await mkdtemp(join(E2E_DIR, "bridge-"));
  const path = join(dir, "cockpit-bridge");
  const command = [...prefix, "cockpit-bridge"].map(shellQuote).join(" ");
  await writeFile(path, `#!/bin/sh\nexec ${command} "$@"\n`, { mode: 0o755 });
  return { path, dir };
}

export interface CockpitWs {
  port: number;
  pid: number;
  /** The page's URL, at `route` (its cockpit.location path). */
  pageUrl(route?: readonly string[]): string;
  log(): string;
  stop(): Promise<void>;
}

/** cockpit-ws serving the packages under `dataHome` (and the host's own) to 127.0.0.1 only. */
export async function startCockpitWs(
  dataHome: string,
  timeoutMs = 20_000,
  /** Added to cockpit-ws's environment (e.g. DBUS_SYSTEM_BUS_ADDRESS for a bus of a test's own). */
  env: Record<string, string> = {},
  /** A command the session's bridge runs under (none: cockpit-bridge itself). */
  bridgePrefix: readonly string[] = [],
): Promise<CockpitWs> {
  await ensureSystemBus();
  const port = await freePort();
  const wrapper = bridgePrefix.length > 0 ? await bridgeWrapper(bridgePrefix) : undefined;
  const child = spawn(
    COCKPIT_WS,
    [
      ...["--no-tls", "-a", "127.0.0.1", "--port", String(port)],
      `--local-session=${wrapper?.path ?? "cockpit-bridge"}`,
    ],
    // A process group of its own, so that what the session starts can be found and ended.
    {
      env: { ...DAEMON_ENV, ...env, XDG_DATA_HOME: dataHome },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  const daemon = watchDaemon(child);

  const stop = async () => {
    daemon.forget();
    const pid = child.pid;
    if (pid === undefined) return;
    if (!hasExited(child)) child.kill("SIGTERM");
    await waitGone(pid, "cockpit-ws", 10_000);
    for (const member of processGroup(pid)) {
      process.kill(member, "SIGTERM");
      await waitGone(member, `process ${member} of cockpit-ws's session`, 10_000);
    }
    if (wrapper) await rm(wrapper.dir, { recursive: true, force: true });
  };

  await daemon.listening("cockpit-ws", port, timeoutMs, stop);
  if (child.pid === undefined) throw new Error("cockpit-ws has no pid");
  return {
    port,
    pid: child.pid,
    pageUrl: (route = []) =>
      `http://127.0.0.1:${port}${PAGE_PATH}${route.length > 0 ? `#/${route.join("/")}` : ""}`,
    log: daemon.log,
    stop,
  };
}

export interface BrowserOptions {
  /** Cockpit's theme choice, as the shell stores it ("shell:style"). */
  style?: "auto" | "light" | "dark";
  viewport?: { width: number; height: number };
}

/** Debian's chromium, headless, with a fresh profile. */
export async function launchBrowser(
  options: BrowserOptions = {},
): Promise<{ context: BrowserContext; stop(): Promise<void> }> {
  await mkdir(E2E_DIR, { recursive: true });
  const profile = await mkdtemp(join(E2E_DIR, "profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: options.viewport ?? { width: 1280, height: 800 },
    // The system's preference, for style "auto"; explicit so that screenshots do not vary.
    colorScheme: "light",
    timeout: 60_000,
  });
  const style = options.style ?? "light";
  // Only into a fresh profile: a test may change the style later, as the shell would.
  await context.addInitScript((s) => {
    if (localStorage.getItem("shell:style") === null) localStorage.setItem("shell:style", s);
  }, style);
  return {
    context,
    stop: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface SessionOptions extends BrowserOptions {
  /**
   * A command to run the session's cockpit-bridge under, such as ["nsenter", ...ARGS, "--"]:
   * the page then reads the system bus and runs its programs (crm_mon...) where that puts them.
   */
  bridgePrefix?: readonly string[];
}

export interface PageSession {
  page: Page;
  ws: CockpitWs;
  /** Opens the page at `route` and waits until it has drawn itself. */
  open(route?: readonly string[]): Promise<void>;
  /**
   * A screenshot of the window, saved as build/screenshots/NAME.png; returns its path. With
   * `full`, the window is made as tall as the page's content for it (PatternFly's page scrolls
   * inside its <main>, so a "full page" screenshot would show the window only).
   */
  screenshot(name: string, options?: { full?: boolean }): Promise<string>;
  /** What the page logged to its console (errors included), for failure messages. */
  consoleLog(): string[];
  close(): Promise<void>;
}

/** The page installed, cockpit-ws started, a browser on it: what every browser test needs. */
export async function startPageSession(
  options: SessionOptions = {},
  env: Record<string, string> = {},
): Promise<PageSession> {
  const ws = await startCockpitWs(await installPage(), undefined, env, options.bridgePrefix);
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  try {
    browser = await launchBrowser(options);
  } catch (e) {
    await ws.stop();
    throw e;
  }
  const page = await browser.context.newPage();
  const messages: string[] = [];
  page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return {
    page,
    ws,
    async open(route = []) {
      const response = await page.goto(ws.pageUrl(route));
      // With a local session cockpit-ws serves the page itself, not its login page.
      if (response?.status() !== 200 || !new URL(page.url()).pathname.endsWith(PAGE_PATH))
        throw new Error(`cockpit-ws answered ${response?.status()} at ${page.url()}\n${ws.log()}`);
      await page.locator("h1").first().waitFor({ timeout: 30_000 });
      // The overview's first answer from the bus (ListNames) replaces this.
      await page.getByText("Looking for agents").waitFor({ state: "detached", timeout: 30_000 });
    },
    async screenshot(name, options = {}) {
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      const size = page.viewportSize() ?? { width: 1280, height: 800 };
      if (options.full) {
        const height = await page.evaluate(() => {
          const main = document.querySelector("main");
          return main ? main.scrollHeight + window.innerHeight - main.clientHeight : 0;
        });
        await page.setViewportSize({ width: size.width, height: Math.max(size.height, height) });
      }
      // Fonts loaded and transitions finished (theme changes fade), so that what is saved is
      // what stays on screen.
      await page.evaluate(() => document.fonts.ready.then(() => undefined));
      await page.screenshot({ path, animations: "disabled" });
      if (options.full) await page.setViewportSize(size);
      return path;
    },
    consoleLog: () => [...messages],
    async close() {
      await browser.stop();
      await ws.stop();
    },
  };
}
