// The network fault drills on a COLO pair across the two lab hosts (docs/lab-hosts.md, "Fault
// drills"): each fault of the issue made on the secondary's host B under a light steady load
// (drill-outcome.ts, drill.ts). Judged by invariants only, with bounds from the controller's own
// liveness: the primary is never paused beyond a checkpoint's bound plus the failover, answers
// again within that plus a request's round trip, both agents report what their QEMUs say, and
// no secondary is left paused once COLO has ended. A fault that ends COLO gets a fresh pair
// for the next one. Each drill's figures are one `fault:` line.
import { afterAll, describe, expect, it } from "vitest";
import { drillSeries } from "./hosts/drill.js";
import { DRILLS, describeOutcome, violations } from "./hosts/drill-outcome.js";

const MINUTE = 60_000;

describe("network fault drills on a pair across two lab hosts", () => {
  const drills = drillSeries((line) => console.log(`host-faults: ${line}`));

  afterAll(() => drills.close(), 2 * MINUTE);

  it.each(DRILLS)(
    "$name: the primary serves again within the bound; the agents say what QEMU says",
    async (drill) => {
      const { recording, outcome, bounds } = await drills.run(drill);
      console.log(`fault: ${describeOutcome(drill, recording, outcome)}`);
      expect(violations(recording, outcome, bounds)).toEqual([]);
    },
    6 * MINUTE,
  );
});
