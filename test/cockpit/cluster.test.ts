// @vitest-environment jsdom
// The cluster's card in the domain view, with crm_mon's and cibadmin's output as Pacemaker 2.1.5
// wrote it on the lab's cluster (test/fixtures/cluster/), through a fake cockpit.spawn: where
// the pair is promoted and unpromoted, failed actions, quorum, nodes, fencing; what it says
// without a cluster; no card without Pacemaker; reads only while a domain is shown.
import { readFileSync } from "node:fs";
import { act, cleanup, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dateTime } from "../../cockpit/src/format.js";
import type { FakeProcess } from "./fake-cockpit.js";
import { agent, info, UUID } from "./fixtures.js";
import { renderPage } from "./render.js";

const fixture = (name: string) => readFileSync(`test/fixtures/cluster/${name}`, "utf8");
const DOMAIN = "colo-hybrid-test-hosts-92c0ff";
const CLONE = `colo-${DOMAIN}-clone`;
const CRM_MON = ["crm_mon", "-1", "--output-as=xml", "--fence-history=3"];
const CIBADMIN = ["cibadmin", "-Q", "--scope", "resources"];

/** The lab's pair, seen from its primary's side (or the other). */
const pairAgent = (role: "primary" | "secondary" = "primary") =>
  agent({
    info: info(
      role === "primary"
        ? { domain: DOMAIN, peerDomain: `${DOMAIN}-secondary` }
        : { role, domain: `${DOMAIN}-secondary`, peerDomain: DOMAIN },
    ),
  });

/** A cluster that runs: crm_mon says what `crmMon()` names, cibadmin the lab's resources. */
const cluster =
  (crmMon: () => string) =>
  (args: string[]): FakeProcess => {
    if (args[0] === "crm_mon") return { stdout: fixture(`crm_mon-${crmMon()}.xml`) };
    if (args[0] === "cibadmin") return { stdout: fixture("cib-resources.xml") };
    return { problem: "not-found" };
  };

/** The card's rows, term → text. */
function rows(): Record<string, string> {
  const list = document.getElementById("cluster");
  if (!list) throw new Error("the card has no rows");
  return Object.fromEntries(
    [...list.querySelectorAll("dt")].map((t) => [
      t.textContent,
      t.nextElementSibling?.textContent ?? "",
    ]),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the cluster card", () => {
  it("shows the healthy pair: promoted on A, unpromoted on B, quorum, nodes, fencing", async () => {
    const { cockpit } = renderPage([pairAgent()], {
      path: [UUID],
      spawn: cluster(() => "healthy"),
    });
    await screen.findByText("Partition with quorum, DC colo-lab-a");
    expect(rows()).toMatchObject({
      Resource: CLONE,
      Promoted: "colo-lab-a",
      Unpromoted: "colo-lab-b",
      Nodes: "colo-lab-a onlinecolo-lab-b onlinecolo-lab-c online",
      Fencing: "Enabled",
      "Fence devices": "fence-lab on colo-lab-a",
    });
    // The orphan instance crm_mon lists (no node, not configured) is not the pair's: nothing
    // stopped, no failure, no fencing yet.
    expect(Object.keys(rows())).not.toContain("Stopped");
    expect(Object.keys(rows())).not.toContain("Failed actions");
    expect(Object.keys(rows())).not.toContain("Fence events");
    // Both through the administrative bridge when there is one, stderr as the error's message.
    expect(cockpit.spawned.slice(0, 2)).toEqual([
      { args: CRM_MON, options: { superuser: "try", err: "message" } },
      { args: CIBADMIN, options: { superuser: "try", err: "message" } },
    ]);
    // Beside the pair's own card.
    within(document.getElementById("pair") as HTMLElement).getByText("7.2.22");
  });

  it("finds the pair from its secondary's side, failed over: B promoted, A fenced by C", async () => {
    renderPage([pairAgent("secondary")], { path: [UUID], spawn: cluster(() => "failed-over") });
    await screen.findByText("Partition with quorum, DC colo-lab-b");
    expect(rows()).toMatchObject({
      Resource: CLONE,
      Promoted: "colo-lab-b",
      Unpromoted: "none",
      Stopped: "1 of 2 instances",
      Nodes: "colo-lab-a offlinecolo-lab-b onlinecolo-lab-c online",
      "Fence devices": "fence-lab on colo-lab-b",
      "Fence events": `colo-lab-a: off by colo-lab-c (success), ${dateTime(Date.UTC(2026, 11, 7, 16, 7, 45))}`,
    });
  });

  it("shows the failed start of the stale side", async () => {
    renderPage([pairAgent()], { path: [UUID], spawn: cluster(() => "stale-start-failed") });
    await screen.findByText("Partition with quorum, DC colo-lab-b");
    expect(rows()).toMatchObject({
      Promoted: "colo-lab-b",
      Stopped: "1 of 2 instances",
      "Failed actions": `start on colo-lab-a: error, ${dateTime(Date.UTC(2026, 11, 7, 16, 9, 56))}`,
    });
  });

  it("says when the pair is not a cluster resource, and how to make it one", async () => {
    renderPage([agent()], { path: [UUID], spawn: cluster(() => "healthy") });
    await screen.findByText("Not a cluster resource");
    const hint = document.getElementById("cluster-hint")?.textContent ?? "";
    expect(hint).toContain("crm configure load update - <<'EOF'");
    // The primary's name; the secondary's is the default one, so no parameter for it.
    expect(hint).toContain("primitive colo-web1 ocf:colo-hybrid:colo params domain=web1 \\");
    expect(hint).toContain("clone colo-web1-clone colo-web1 meta promotable=true");
    // The cluster's own state is still shown.
    expect(rows()).toMatchObject({ Quorum: "Partition with quorum, DC colo-lab-a" });
  });

  it("names the secondary in the hint when it is not DOMAIN-secondary", async () => {
    renderPage([agent({ info: info({ peerDomain: "web1-b" }) })], {
      path: [UUID],
      spawn: cluster(() => "healthy"),
    });
    await screen.findByText("Not a cluster resource");
    expect(document.getElementById("cluster-hint")?.textContent).toContain(
      "params domain=web1 secondary=web1-b \\",
    );
  });

  it("marks an UNCLEAN node and a partition without quorum", async () => {
    // The healthy recording, edited: A lost and not yet fenced, B and C without quorum.
    const xml = fixture("crm_mon-healthy.xml")
      .replace('with_quorum="true"', 'with_quorum="false"')
      .replace(
        /(name="colo-lab-a" id="1" )online="true"(.*?)unclean="false"/,
        '$1online="false"$2unclean="true"',
      );
    renderPage([pairAgent()], {
      path: [UUID],
      spawn: (args) => (args[0] === "crm_mon" ? { stdout: xml } : cluster(() => "healthy")(args)),
    });
    await screen.findByText("Partition WITHOUT quorum, DC colo-lab-a");
    expect(rows().Nodes).toBe("colo-lab-a UNCLEANcolo-lab-b onlinecolo-lab-c online");
  });

  it("says in one line when Pacemaker does not run on this host", async () => {
    const { cockpit } = renderPage([agent()], {
      path: [UUID],
      spawn: () => ({ exitStatus: 102 }),
    });
    await screen.findByText("Pacemaker is not running on this host.");
    expect(document.getElementById("cluster")).toBeNull();
    expect(cockpit.spawned.map((s) => s.args[0])).toEqual(["crm_mon"]);
  });

  it("says why it cannot read the cluster otherwise", async () => {
    renderPage([agent()], { path: [UUID], spawn: () => ({ exitStatus: 4 }) });
    await screen.findByText(
      "Cannot read the cluster: Not permitted: only root and members of group haclient may read the cluster.",
    );
    cleanup();
    renderPage([agent()], { path: [UUID], spawn: () => ({ exitStatus: 1 }) });
    await screen.findByText("Cannot read the cluster: crm_mon exited with code 1");
  });

  it("shows no card where Pacemaker is not installed", async () => {
    const { store } = renderPage([agent()], { path: [UUID] });
    await vi.waitFor(() => expect(store.get().cluster).toEqual({ state: "absent" }));
    expect(screen.queryByText("Cluster")).toBeNull();
    screen.getByText("Pair");
  });

  it("reads the cluster every 5 s while a domain is shown, and not on the overview", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    let state = "healthy";
    const { cockpit } = renderPage([pairAgent()], { spawn: cluster(() => state) });
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(cockpit.spawned).toEqual([]);

    act(() => cockpit.location.go([UUID]));
    await act(() => vi.advanceTimersByTimeAsync(0));
    screen.getByText("Partition with quorum, DC colo-lab-a");
    // The primary's node lost: the next read shows the failover.
    state = "failed-over";
    await act(() => vi.advanceTimersByTimeAsync(5000));
    screen.getByText("Partition with quorum, DC colo-lab-b");
    expect(cockpit.spawned.filter((s) => s.args[0] === "crm_mon")).toHaveLength(2);

    act(() => cockpit.location.go([]));
    const reads = cockpit.spawned.length;
    await act(() => vi.advanceTimersByTimeAsync(20_000));
    expect(cockpit.spawned).toHaveLength(reads);
  });
});
