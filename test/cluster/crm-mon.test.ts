// crm_mon's XML as Pacemaker 2.1.5 wrote it on the lab's three-node cluster
// (test/fixtures/cluster/): the pair healthy, failed over after its primary's node was fenced,
// and the stale side back with its start failed.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { instancesOf, parseCrmMon, parseFenceHistory } from "../../src/cluster/crm-mon.js";

const fixture = (name: string) => readFileSync(`test/fixtures/cluster/${name}`, "utf8");
const crmMon = (name: string) => parseCrmMon(fixture(`crm_mon-${name}.xml`));
const PAIR = "colo-colo-hybrid-test-hosts-92c0ff";
const node = (name: string, online = true) => ({ name, online, unclean: false });
const FENCED = {
  action: "off",
  target: "colo-lab-a",
  executioner: "colo-lab-c",
  origin: "colo-lab-b",
  status: "success",
  completed: Date.UTC(2026, 11, 7, 16, 7, 45),
};

describe("crm_mon's XML", () => {
  it("healthy: A promoted and DC, B unpromoted, fencing on and its device on A", () => {
    const status = crmMon("healthy");
    expect(status).toMatchObject({ quorum: true, dc: "colo-lab-a", stonithEnabled: true });
    expect(status.nodes).toEqual([node("colo-lab-a"), node("colo-lab-b"), node("colo-lab-c")]);
    expect(status.resources.find((r) => r.id === "fence-lab")).toEqual({
      id: "fence-lab",
      agent: "stonith:fence_colo_lab",
      role: "Started",
      failed: false,
      orphaned: false,
      nodes: ["colo-lab-a"],
    });
    // The clone's instances, and an orphan instance with no node (history from before the
    // clone), as crm_mon lists them.
    expect(instancesOf(status, PAIR).map((r) => [r.role, r.nodes, r.orphaned])).toEqual([
      ["Promoted", ["colo-lab-a"], false],
      ["Unpromoted", ["colo-lab-b"], false],
      ["Stopped", [], true],
    ]);
    expect(instancesOf(status, PAIR)[0]?.agent).toBe("ocf:colo-hybrid:colo");
    expect(status.fenceHistory).toEqual([]);
    expect(status.failures).toEqual([]);
  });

  it("failed over: A off and fenced by C, B promoted and DC", () => {
    const status = crmMon("failed-over");
    expect(status).toMatchObject({ quorum: true, dc: "colo-lab-b" });
    expect(status.nodes).toEqual([
      node("colo-lab-a", false),
      node("colo-lab-b"),
      node("colo-lab-c"),
    ]);
    expect(instancesOf(status, PAIR).map((r) => [r.role, r.nodes])).toEqual([
      ["Promoted", ["colo-lab-b"]],
      ["Stopped", []],
    ]);
    expect(status.fenceHistory).toEqual([FENCED]);
    expect(status.failures).toEqual([]);
  });

  it("stale side back: A online, its start failed, the failed action read", () => {
    const status = crmMon("stale-start-failed");
    expect(status.nodes.every((n) => n.online)).toBe(true);
    expect(instancesOf(status, PAIR).map((r) => r.role)).toEqual(["Promoted", "Stopped"]);
    expect(status.failures).toEqual([
      {
        resource: PAIR,
        task: "start",
        node: "colo-lab-a",
        result: "error",
        reason: "",
        at: Date.UTC(2026, 11, 7, 16, 9, 56),
      },
    ]);
    expect(status.fenceHistory).toEqual([FENCED]);
  });

  it("no DC: no quorum, whatever the partition had", () => {
    const xml = fixture("crm_mon-healthy.xml").replace(
      /<current_dc [^>]*\/>/,
      '<current_dc present="false"/>',
    );
    expect(parseCrmMon(xml)).toMatchObject({ quorum: false, dc: undefined });
  });

  it("a failure's resource from its operation key, underscores and all", () => {
    const xml = fixture("crm_mon-stale-start-failed.xml")
      .replace(`op_key="${PAIR}_start_0"`, 'op_key="colo_web_migrate_to_0"')
      .replace('task="start"/>', 'task="migrate_to"/>');
    expect(parseCrmMon(xml).failures[0]).toMatchObject({
      resource: "colo_web",
      task: "migrate_to",
    });
  });

  it("stonith_admin --history: the same fence events, in a list", () => {
    // No recording of stonith_admin: crm_mon's fence_event in a list, as stonith_admin's XML
    // has it (the list's attributes are not read).
    const event = /<fence_event [^>]*\/>/.exec(fixture("crm_mon-failed-over.xml"))?.[0];
    const xml = `<pacemaker-result><list>${event}</list><status code="0" message="OK"/></pacemaker-result>`;
    expect(parseFenceHistory(xml)).toEqual([FENCED]);
  });

  it("Pacemaker not running: crm_mon's answer has no cluster in it", () => {
    // What crm_mon printed on this machine, exit status 102.
    const xml = `<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml --fence-history=3">
  <status code="102" message="Not connected">
    <errors>
      <error>crm_mon: Connection to cluster failed: Connection refused</error>
    </errors>
  </status>
</pacemaker-result>`;
    expect(parseCrmMon(xml)).toEqual({
      quorum: false,
      dc: undefined,
      stonithEnabled: false,
      nodes: [],
      resources: [],
      fenceHistory: [],
      failures: [],
    });
  });
});
