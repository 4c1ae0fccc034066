// The page in Debian's chromium against a real cockpit-ws and the real system bus: it loads
// with no login, finds no agents and says how to protect a domain; it follows Cockpit's dark
// theme; it fits a narrow window. Screenshots go to build/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentNamesOnBus } from "./bus.js";
import { type PageSession, startPageSession } from "./harness.js";

describe("the Cockpit page in chromium, no agents on the bus", () => {
  let session: PageSession;

  beforeAll(async () => {
    session = await startPageSession();
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it("loads with no login and shows the empty state with the CLI to protect a domain", async (ctx) => {
    if ((await agentNamesOnBus()).length > 0) ctx.skip("agents are running on the system bus");
    await session.open();
    const { page } = session;
    await page.getByText("No protected domains").waitFor();
    await expect(
      page.getByText("colo-hybrid protect DOMAIN", { exact: false }).count(),
    ).resolves.toBe(1);
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
    expect(await dark()).toBe(true);
    await session.screenshot("overview-empty-dark");
    // The shell announces a change of theme to its pages with this event.
    await page.evaluate(() =>
      window.dispatchEvent(new CustomEvent("cockpit-style", { detail: { style: "light" } })),
    );
    expect(await dark()).toBe(false);
    await page.evaluate(() => localStorage.setItem("shell:style", "light"));
  });

  it("fits a narrow window", async () => {
    const { page } = session;
    await page.setViewportSize({ width: 420, height: 800 });
    await session.open();
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await session.screenshot("overview-empty-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
