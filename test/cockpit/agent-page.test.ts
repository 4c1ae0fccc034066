// The page in Debian's chromium against a real cockpit-ws, talking over the real system bus to
// an agent published by the real D-Bus service (src/dbus/service.ts). The agent is a TestAgent:
// the policy core fed a synthetic load, no QEMU (the lab test does the same with a live pair).
// Screenshots of each state go to build/screenshots/.
import { randomUUID } from "node:crypto";
import { NameFlag, RequestNameReply } from "@jellybrick/dbus-next";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemBus } from "../../src/dbus/bus.js";
import { busNameForUuid } from "../../src/dbus/names.js";
import { publishAgent } from "../../src/dbus/service.js";
import { installPolicy } from "../dbus/host.js";
import { agentParameters } from "./bus.js";
import { type PageSession, startPageSession } from "./harness.js";
import { TestAgent } from "./test-agent.js";

const UUID = randomUUID();
const DOMAIN = "web1";
/** Every read of the page is waited for: it draws itself as the bus and the browser answer. */
const POLL = { timeout: 30_000 };
/** Past the browser's own waits (30 s), so that a wait that fails says what it waited for. */
const TEST_MS = 90_000;

describe("the Cockpit page with an agent on the system bus", { timeout: TEST_MS }, () => {
  let session: PageSession;
  let agent: TestAgent;
  let published: Awaited<ReturnType<typeof publishAgent>> | undefined;
  let removePolicy: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    removePolicy = await installPolicy();
    agent = new TestAgent({
      domain: DOMAIN,
      uuid: UUID,
      peer: { uri: "qemu+ssh://host2/system", domain: `${DOMAIN}-secondary` },
      qemu: { primary: "7.2.22", secondary: "7.2.19" },
    });
    // A calm pair: COLO mode, checkpoints by the timer and the odd miscompare.
    agent.play([{ kind: "convergent", seconds: 50 }], Date.now() - 25_000);
    published = await publishAgent(agent, UUID);
    session = await startPageSession();
  }, 120_000);

  afterAll(async () => {
    await session?.close();
    await published?.close();
    await removePolicy?.();
  });

  // This test's agent, by its UUID: other agents may be on the bus too (other suites', the host's).
  const row = () => session.page.locator(`#agents tr[data-uuid="${UUID}"]`);
  const open = () => row().getByRole("button", { name: DOMAIN, exact: true }).click();
  const mode = () => session.page.locator("#domain-mode");

  it("lists the domain in the overview, in COLO mode", async () => {
    await session.open();
    // Waited for, as every read of the page: it fills in as the agent's properties arrive.
    await row()
      .filter({ hasText: /Primary[\s\S]*web1-secondary[\s\S]*Protected[\s\S]*COLO mode/ })
      .waitFor();
    await session.screenshot("overview");
  });

  it("shows the domain in COLO: chart, statistics, pair, history", async () => {
    await open();
    await mode()
      .filter({ hasText: /^COLO mode$/ })
      .waitFor();
    // RecentCheckpoints filled the chart.
    await session.page.locator(".colo-chart circle").first().waitFor();
    await session.page.getByText("7.2.19").waitFor();
    await session.screenshot("domain-colo");
    await session.screenshot("domain-colo-full", { full: true });
  });

  it("says beside the pair that Pacemaker does not run here: this machine's crm_mon", async () => {
    await session.page
      .locator("#cluster-message", { hasText: "Pacemaker is not running on this host." })
      .waitFor();
  });

  it("follows a phase change of the load into passive mode", async () => {
    agent.play([{ kind: "divergent", seconds: 20 }]);
    await session.page.getByText(/^Passive mode, \d+ left$/).waitFor();
    // The Tick signal brought the passive spell to the chart.
    await session.page.locator(".colo-chart-spell").first().waitFor();
    await session.page
      .locator("#history")
      .getByText("colo → passive", { exact: false })
      .first()
      .waitFor();
    await session.screenshot("domain-passive");
    await session.screenshot("domain-passive-full", { full: true });
    // The same in Cockpit's dark theme, as the shell switches it.
    const style = (s: string) =>
      session.page.evaluate(
        (detail) => window.dispatchEvent(new CustomEvent("cockpit-style", { detail })),
        { style: s },
      );
    await style("dark");
    await session.screenshot("domain-passive-dark");
    await style("light");
  });

  it("fits a narrow window", async () => {
    const { page } = session;
    const overflow = () =>
      page.evaluate(() => {
        const main = document.querySelector("main");
        return main ? main.scrollWidth - main.clientWidth : 0;
      });
    await page.setViewportSize({ width: 420, height: 800 });
    await expect.poll(overflow, POLL).toBeLessThanOrEqual(0);
    await session.screenshot("domain-passive-narrow");
    await page.getByRole("button", { name: "Protected domains" }).click();
    await row().waitFor();
    await expect.poll(overflow, POLL).toBeLessThanOrEqual(0);
    await session.screenshot("overview-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
    await open();
    await mode().waitFor();
  });

  it("sends a parameter change to the agent", async () => {
    const { page } = session;
    await page.getByRole("tab", { name: "Parameters" }).click();
    await page.locator("#param-passive-limit").fill("300");
    await page.locator("#param-passive-count").fill("50");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator("#parameters-applied").waitFor();
    const params = await agentParameters(published?.busName ?? "");
    expect(params).toMatchObject({ "passive-limit": 300, "passive-count": 50 });
    // The form shows what the agent now publishes.
    await expect.poll(() => page.locator("#param-passive-limit").inputValue(), POLL).toBe("300");
  });

  it("shows the agent's refusal of an invalid value, and nothing changes", async () => {
    const { page } = session;
    await page.locator("#param-passive-limit").fill("0");
    await page.locator("#param-weight").fill("0.5");
    // The form already says so as it is typed...
    await page.locator("#param-passive-limit-error").waitFor();
    await page.getByRole("button", { name: "Apply" }).click();
    // ...and the agent, asked anyway, refuses with its own words.
    await page
      .locator("#parameters-refused", {
        hasText: 'passive-limit="0" is out of range: 1..600000 ms',
      })
      .waitFor();
    const params = await agentParameters(published?.busName ?? "");
    expect(params).toMatchObject({ "passive-limit": 300, weight: 0.3 });
    await session.screenshot("parameters-error");
    await session.screenshot("parameters-error-full", { full: true });
  });

  it("fails over after a confirmation, and says COLO has ended", async () => {
    const { page } = session;
    await page.getByRole("tab", { name: "Status" }).click();
    await page.getByRole("button", { name: "Fail over" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("is no longer a replica", { exact: false }).waitFor();
    await session.screenshot("failover-confirmation");
    await dialog.getByRole("button", { name: "Fail over" }).click();
    await page.locator("#colo-ended").waitFor();
    await session.screenshot("domain-failed-over");
  });

  it("says when the agent is gone", async () => {
    await published?.close();
    published = undefined;
    await session.page.locator("#agent-down").waitFor();
    // The overview keeps the row of an agent it saw go (a fresh page would not know of it).
    await session.page.getByRole("button", { name: "Protected domains" }).click();
    await row().filter({ hasText: "Agent not running" }).waitFor();
    await session.screenshot("overview-agent-down");
  });

  it("tells an agent it has not read yet from one that says it is connecting", async () => {
    const rowOf = (uuid: string) => session.page.locator(`#agents tr[data-uuid="${uuid}"]`);
    // An agent's name with nothing behind it yet, so nothing to read: a real agent exports its
    // object before it takes its name, and the page reads it at once.
    const unread = randomUUID();
    const bus = await SystemBus.connect();
    // An agent that has not read QEMU's state yet says "connecting" itself.
    const connecting = randomUUID();
    const second = new TestAgent({ domain: "web2", uuid: connecting });
    second.endColo("connecting", "");
    const secondPublished = await publishAgent(second, connecting);
    try {
      const [owned] = await bus.callBus("RequestName", "su", [
        busNameForUuid(unread),
        NameFlag.DO_NOT_QUEUE,
      ]);
      expect(owned).toBe(RequestNameReply.PRIMARY_OWNER);
      await session.open();
      await rowOf(unread).filter({ hasText: "Reading agent…" }).waitFor();
      await rowOf(connecting)
        .filter({ hasText: /web2[\s\S]*Connecting/ })
        .waitFor();
      await session.screenshot("overview-reading-connecting");
    } finally {
      bus.close();
      await secondPublished.close();
    }
  });
});
