// The page in Debian's chromium against a real cockpit-ws and a real system bus of the test's
// own (own-bus.ts: no other suite's agents on it): it loads with no login, finds no agents and
// says how to protect a domain; it follows Cockpit's dark theme; it fits a narrow window.
// Screenshots go to build/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PageSession } from "./harness.js";
import { startPageSessionOnOwnBus } from "./own-bus.js";

/** Every read of the page is waited for: it draws itself as the bus and the browser answer. */
const POLL = { timeout: 30_000 };
/** Past the browser's own waits (30 s), so that a wait that fails says what it waited for. */
const TEST_MS = 90_000;

describe("the Cockpit page in chromium, no agents on the bus", { timeout: TEST_MS }, () => {
  let session: PageSession;

  beforeAll(async () => {
    session = await startPageSessionOnOwnBus();
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it("loads with no login and shows the empty state with the CLI to protect a domain", async () => {
    await session.open();
    const { page } = session;
    await page.getByText("No protected domains").waitFor();
    // One of it (waitFor refuses a locator that matches more than one).
    await page.getByText("colo-hybrid protect DOMAIN", { exact: false }).waitFor();
    // The page reached the bus through cockpit-bridge: nothing failed on the way.
    expect(
      session.consoleLog().filter((l) => l.startsWith("error") || l.startsWith("pageerror")),
    ).toEqual([]);
    await session.screenshot("overview-empty");
  });

  it("follows Cockpit's dark theme, and its changes", async () => {
    const { page } = session;
    await session.open();
    await page.evaluate(() => localStorage.setItem("shell:style", "dark"));
    await session.open();
    const dark = () =>
      page.evaluate(() => document.documentElement.classList.contains("pf-v6-theme-dark"));
    await expect.poll(dark, POLL).toBe(true);
    await session.screenshot("overview-empty-dark");
    // The shell announces a change of theme to its pages with this event.
    await page.evaluate(() =>
      window.dispatchEvent(new CustomEvent("cockpit-style", { detail: { style: "light" } })),
    );
    await expect.poll(dark, POLL).toBe(false);
    await page.evaluate(() => localStorage.setItem("shell:style", "light"));
  });

  it("fits a narrow window", async () => {
    const { page } = session;
    await page.setViewportSize({ width: 420, height: 800 });
    await session.open();
    await page.getByText("No protected domains").waitFor();
    const overflow = () =>
      page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
    await expect.poll(overflow, POLL).toBeLessThanOrEqual(0);
    await session.screenshot("overview-empty-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
