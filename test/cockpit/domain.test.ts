// @vitest-environment jsdom
// The domain view: the chart, statistics, pair and history; the states that need attention;
// failover behind a confirmation, for administrators only.
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { agent, checkpoints, info, UUID } from "./fixtures.js";
import { renderPage } from "./render.js";

describe("domain view", () => {
  it("follows the agent's checkpoints while open and charts them", () => {
    const now = Date.now();
    const { actions, store } = renderPage([agent({ checkpoints: checkpoints(30, now, 10) })], {
      path: [UUID],
    });
    expect(actions.followCheckpoints).toHaveBeenCalledWith(agent().busName);
    // The agent's recent window (window-ms) is the chart's span.
    const chart = screen.getByRole("img", { name: "Checkpoint lengths of the last 1 min" });
    expect(chart.querySelectorAll("circle")).toHaveLength(30);
    expect(chart.querySelectorAll(".colo-chart-spell")).toHaveLength(1);
    expect(chart.querySelector(".colo-chart-mean")?.getAttribute("d")).toMatch(/^M/);
    expect(chart.querySelector(".colo-chart-limit")).not.toBeNull();
    screen.getByText("passive-limit (400 ms)");
    // New checkpoints arrive through the store.
    act(() => store.agentCheckpoints(agent().busName, checkpoints(1, now + 1000)));
    expect(chart.querySelectorAll("circle")).toHaveLength(31);
  });

  it("shows statistics, time per mode, both QEMU versions and the history newest first", () => {
    renderPage(
      [
        agent({
          info: info({
            history: [
              { t: Date.UTC(2024, 0, 1, 10), kind: "colo", message: "COLO started" },
              { t: Date.UTC(2024, 0, 1, 11), kind: "error", message: "peer unreachable" },
            ],
          }),
        }),
      ],
      { path: [UUID] },
    );
    const stats = within(document.getElementById("checkpoint-stats") as HTMLElement);
    stats.getByText("130 (COLO 30, passive 100)");
    stats.getByText("180 ms / 240 ms / 20 s");
    stats.getByText("12 ms / 30 ms / 95 ms");
    stats.getByText("42.5");
    const share = within(document.getElementById("mode-share") as HTMLElement);
    share.getByText("75 % (1 min 30 s)");
    share.getByText("25 % (30 s)");
    const pair = within(document.getElementById("pair") as HTMLElement);
    pair.getByText("7.2.22");
    pair.getByText("7.2.21");
    pair.getByText("web1-secondary (qemu+ssh://host2/system)");
    const rows = within(document.getElementById("history") as HTMLElement).getAllByRole("row");
    expect(rows[1]?.textContent).toContain("peer unreachable");
    expect(rows[2]?.textContent).toContain("COLO started");
  });

  it("says since when the mode holds, by the agent's clock", () => {
    const t = Date.UTC(2024, 0, 1, 12, 30, 15);
    renderPage(
      [
        agent({
          info: info({
            mode: "passive",
            passiveLeft: 12,
            history: [{ t, kind: "transition", message: "colo → passive: mean 212 ms < 400 ms" }],
          }),
        }),
      ],
      { path: [UUID] },
    );
    screen.getByText("Passive mode, 12 left");
    expect(document.getElementById("domain-mean")?.textContent).toBe(
      `mean 212 ms, limit 400 ms · passive mode since ${new Date(t).toLocaleTimeString()}`,
    );
  });

  it("says when COLO has ended, and how to protect the domain again", () => {
    renderPage(
      [agent({ info: info({ colo: "failed-over", coloReason: "COLO_EXIT reason=error" }) })],
      {
        path: [UUID],
      },
    );
    const alert = within(document.getElementById("colo-ended") as HTMLElement);
    alert.getByText("COLO_EXIT reason=error");
    alert.getByText(/colo-hybrid protect web1/);
  });

  it("says when the agent is down, and offers no failover then", () => {
    renderPage([agent({ running: false })], { path: [UUID] });
    screen.getByText("The agent is not running");
    expect(screen.queryByRole("button", { name: "Fail over" })).toBeNull();
  });

  it("shows the agent's last error", () => {
    renderPage([agent({ info: info({ lastError: "query-colo-status: timed out" }) })], {
      path: [UUID],
    });
    screen.getByText("query-colo-status: timed out");
  });

  it("fails over only after a confirmation that says what will happen", async () => {
    const { actions } = renderPage([agent()], { path: [UUID] });
    fireEvent.click(screen.getByRole("button", { name: "Fail over" }));
    const dialog = within(screen.getByRole("dialog"));
    dialog.getByText("Fail over web1?");
    dialog.getByText(/web1 leaves COLO and runs alone on this host/);
    dialog.getByText(/web1-secondary on qemu\+ssh:\/\/host2\/system, is no longer a replica/);
    expect(actions.failover).not.toHaveBeenCalled();
    fireEvent.click(dialog.getByRole("button", { name: "Fail over" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(actions.failover).toHaveBeenCalledWith(agent().busName);
  });

  it("keeps the confirmation open with the agent's reason when failover fails", async () => {
    const { actions } = renderPage([agent()], { path: [UUID] });
    actions.failover.mockRejectedValueOnce(new Error("x-colo-lost-heartbeat: not in COLO"));
    fireEvent.click(screen.getByRole("button", { name: "Fail over" }));
    fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Fail over" }));
    await screen.findByText("x-colo-lost-heartbeat: not in COLO");
  });

  it("sends a secondary's viewer to the primary for checkpoints", () => {
    const { actions } = renderPage(
      [agent({ info: info({ role: "secondary", domain: "web1-secondary", peerDomain: "web1" }) })],
      { path: [UUID] },
    );
    screen.getByText("Checkpoints are counted on the primary");
    expect(screen.queryByRole("img", { name: /Checkpoint lengths/ })).toBeNull();
    expect(actions.followCheckpoints).not.toHaveBeenCalled();
    within(document.getElementById("pair") as HTMLElement).getByText("7.2.21");
  });

  it("warns a secondary's failover about both sides running", () => {
    renderPage(
      [agent({ info: info({ role: "secondary", domain: "web1-secondary", peerDomain: "web1" }) })],
      {
        path: [UUID],
      },
    );
    fireEvent.click(screen.getByRole("button", { name: "Fail over" }));
    within(screen.getByRole("dialog")).getByText(/both sides run at once/);
  });

  it("offers no failover without administrative access", () => {
    renderPage([agent()], { path: [UUID], admin: false });
    expect(screen.queryByRole("button", { name: "Fail over" })).toBeNull();
  });

  it("says it is reading the agent until its properties come, and no state before", () => {
    renderPage([agent({ info: undefined })], { path: [UUID] });
    screen.getByText("Reading the agent");
    expect(screen.queryByText("Connecting")).toBeNull();
  });

  it("says so when no agent has this UUID", () => {
    renderPage([], { path: ["22222222-2222-2222-2222-222222222222"] });
    screen.getByText("No agent for this domain");
  });
});
