// @vitest-environment jsdom
// The overview: one row per agent with what an administrator checks at a glance, and the
// empty, searching and failed states.
import { act, fireEvent, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { agent, BUS_NAME, info, UUID } from "./fixtures.js";
import { renderPage } from "./render.js";

function row(domain: string): HTMLElement {
  const cell = screen.getByRole("button", { name: domain });
  const tr = cell.closest("tr");
  if (!tr) throw new Error(`no row for ${domain}`);
  return tr;
}

describe("overview", () => {
  it("shows a primary in COLO: role, peer, state, mode, mean against limit, rate", () => {
    renderPage([agent()]);
    const r = within(row("web1"));
    r.getByText("Primary");
    r.getByText("web1-secondary");
    r.getByText("qemu+ssh://host2/system");
    r.getByText("Protected");
    r.getByText("COLO mode");
    r.getByText("212 ms / 400 ms");
    r.getByText("42.5");
  });

  it("shows no mode, mean or rate for a secondary: the policy runs on the primary", () => {
    renderPage([agent({ info: info({ role: "secondary", domain: "web1-secondary" }) })]);
    const cells = within(row("web1-secondary")).getAllByRole("cell");
    expect(cells.map((c) => c.textContent)).toEqual([
      "web1-secondary",
      "Secondary",
      "web1-secondaryqemu+ssh://host2/system",
      "Protected",
      "—",
      "—",
      "—",
    ]);
  });

  it("puts a pair's two sides next to each other", () => {
    renderPage([
      agent({ busName: "b1", uuid: "u1", info: info({ domain: "web1-secondary" }) }),
      agent({ busName: "b2", uuid: "u2", info: info({ domain: "db1" }) }),
      agent({ busName: "b3", uuid: "u3", info: info({ domain: "web1" }) }),
    ]);
    const names = screen
      .getAllByRole("row")
      .slice(1)
      .map((r) => r.querySelector("button")?.textContent);
    expect(names).toEqual(["db1", "web1", "web1-secondary"]);
  });

  it("shows passive mode with the passive checkpoints left", () => {
    renderPage([agent({ info: info({ mode: "passive", passiveLeft: 37 }) })]);
    within(row("web1")).getByText("Passive mode, 37 left");
  });

  it("says when an agent is down and when COLO has ended", () => {
    renderPage([
      agent({ running: false }),
      agent({
        busName: "org.colo_hybrid.Agent.u11111111111111111111111111111111",
        uuid: "11111111-1111-1111-1111-111111111111",
        info: info({ domain: "db1", colo: "failed-over" }),
      }),
    ]);
    const down = within(row("web1"));
    down.getByText("Agent not running");
    // What a stopped agent last said about its mode is not shown as current.
    expect(down.queryByText("COLO mode")).toBeNull();
    within(row("db1")).getByText("Failed over");
  });

  it("says it is reading an agent until its ColoState comes, apart from an agent connecting", () => {
    const { store } = renderPage([
      agent({ info: undefined }),
      agent({ busName: "b2", uuid: "u2", info: info({ domain: "db1", colo: "connecting" }) }),
    ]);
    within(row(UUID)).getByText("Reading agent…");
    within(row("db1")).getByText("Connecting");
    expect(screen.getAllByText(/^(Reading agent…|Connecting)$/)).toHaveLength(2);
    // Properties without ColoState (none has been read): still reading.
    act(() => store.agentProperties(BUS_NAME, { domain: "web1", role: "primary" }));
    within(row("web1")).getByText("Reading agent…");
    act(() => store.agentProperties(BUS_NAME, { colo: "connecting" }));
    within(row("web1")).getByText("Connecting");
    act(() => store.agentProperties(BUS_NAME, { colo: "colo" }));
    within(row("web1")).getByText("Protected");
    expect(screen.queryByText("Reading agent…")).toBeNull();
  });

  it("opens a domain from its name", () => {
    const { cockpit } = renderPage([agent()]);
    fireEvent.click(screen.getByRole("button", { name: "web1" }));
    expect(cockpit.location.path).toEqual([UUID]);
    screen.getByRole("heading", { name: "web1", level: 1 });
  });

  it("tells how to protect a domain when no agent runs", () => {
    renderPage([]);
    screen.getByText("No protected domains");
    screen.getByText(/colo-hybrid protect DOMAIN/);
    screen.getByText(/colo-hybrid pair create DOMAIN/);
  });

  it("says it is still looking, or why it cannot", () => {
    renderPage([], { state: { discovery: { state: "starting" } } });
    screen.getByText("Looking for agents");
  });

  it("says why the bus cannot be searched", () => {
    renderPage([], {
      state: { discovery: { state: "failed", message: "Cannot list the system bus: denied" } },
    });
    screen.getByText("Cannot look for agents");
    screen.getByText("Cannot list the system bus: denied");
  });
});
