// The failover plans and their runner, over a fake libvirt; on real QEMU: test/lab/colo.test.ts
// and the agent's drills in test/lab/.
import { describe, expect, it } from "vitest";
import { LibvirtError, QmpError } from "../../src/libvirt/errors.js";
import {
  type FailoverStep,
  primaryFailover,
  runFailover,
  secondaryFailover,
} from "../../src/pair/failover.js";
import { coloQemu, FakeLibvirt } from "../agent/fake-libvirt.js";

describe("failover", () => {
  it("the primary drops its plumbing before leaving COLO; the secondary takes over first; each announces its MAC last", () => {
    const commands = (plan: readonly FailoverStep[]) =>
      plan.map((s) => ("qmp" in s ? s.qmp : "run"));
    expect(commands(primaryFailover(0))).toEqual([
      ...Array(5).fill("object-del"),
      "x-colo-lost-heartbeat",
      "run",
      "announce-self",
    ]);
    expect(commands(secondaryFailover(0))).toEqual([
      "x-colo-lost-heartbeat",
      "run",
      "object-del",
      "object-del",
      "chardev-remove",
      "chardev-remove",
      "announce-self",
    ]);
  });

  it("with disks: the primary drops each NBD child first; the secondary stops its NBD server first", () => {
    expect(primaryFailover(2).slice(0, 4)).toEqual([
      { qmp: "x-blockdev-change", args: { parent: "colo-disk0", child: "children.1" } },
      { qmp: "blockdev-del", args: { "node-name": "colo-nbd0" } },
      { qmp: "x-blockdev-change", args: { parent: "colo-disk1", child: "children.1" } },
      { qmp: "blockdev-del", args: { "node-name": "colo-nbd1" } },
    ]);
    expect(primaryFailover(2).slice(4)).toEqual(primaryFailover(0));
    expect(secondaryFailover(1)).toEqual([{ qmp: "nbd-server-stop" }, ...secondaryFailover(0)]);
  });

  it("drops every NIC's plumbing: all colo-compares before their one IOThread, every redirector before its chardevs", () => {
    const ids = (plan: readonly FailoverStep[], qmp: string) =>
      plan.flatMap((s) => ("qmp" in s && s.qmp === qmp ? [s.args?.id] : []));
    expect(ids(primaryFailover(0, 2), "object-del")).toEqual([
      "comp0",
      "comp0-nic1",
      "iothread1",
      "m0",
      "redire0",
      "redire1",
      "m0-nic1",
      "redire0-nic1",
      "redire1-nic1",
    ]);
    const secondary = secondaryFailover(0, 2);
    expect(ids(secondary, "object-del")).toEqual(["f2", "f1", "f2-nic1", "f1-nic1"]);
    expect(ids(secondary, "chardev-remove")).toEqual(["red1", "red0", "red1-nic1", "red0-nic1"]);
    expect(primaryFailover(1, 1)).toEqual(primaryFailover(1));
  });

  it("goes on past what is already gone, and runs a primary left paused", async () => {
    let status = "paused";
    const lv = new FakeLibvirt(
      "web1",
      undefined,
      coloQemu("primary", {
        "object-del": (_c, args) =>
          new QmpError("GenericError", `object '${String(args?.id)}' not found`, "object-del"),
        "query-status": () => ({ status }),
        cont: () => {
          status = "running";
          return {};
        },
      }),
    );
    await runFailover(lv, lv.dom, [
      { qmp: "object-del", args: { id: "comp0" } },
      { runWithin: 50 },
    ]);
    expect(lv.commands.at(-1)).toBe("cont");
    expect(status).toBe("running");
  });

  it("stops at an error that is not QEMU's answer", async () => {
    const lv = new FakeLibvirt(
      "web1",
      undefined,
      coloQemu("primary", { "object-del": () => new LibvirtError("connection", "lost libvirt") }),
    );
    await expect(runFailover(lv, lv.dom, primaryFailover(0))).rejects.toThrow(/lost libvirt/);
    expect(lv.commands).toEqual(["object-del"]);
  });
});
