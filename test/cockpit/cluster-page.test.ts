// The cluster's card in Debian's chromium against a real cockpit-ws, whose bridge runs under
// harness.ts's bridgePrefix (here `env PATH=...`) and so runs this test's crm_mon and cibadmin:
// scripts that print what Pacemaker 2.1.5 printed on the lab's cluster (test/fixtures/cluster/).
// The page reads them in the browser as it would a live cluster's, follows a failover, and
// shows no card once there is no crm_mon. Screenshots go to build/screenshots/.
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { publishAgent } from "../../src/dbus/service.js";
import { installPolicy } from "../dbus/host.js";
import { BUILD_DIR } from "../support/paths.js";
import { type PageSession, startPageSession } from "./harness.js";
import { TestAgent } from "./test-agent.js";

const UUID = randomUUID();
const DOMAIN = "colo-hybrid-test-hosts-92c0ff";
const FIXTURES = join(process.cwd(), "test/fixtures/cluster");
const BIN = join(BUILD_DIR, "cockpit-e2e", "pacemaker-bin");
/** Past the browser's own waits (30 s), so that a wait that fails says what it waited for. */
const TEST_MS = 90_000;

/** crm_mon prints what `crm_mon.xml` holds now; cibadmin the lab's resources. */
async function installTools(): Promise<void> {
  await rm(BIN, { recursive: true, force: true });
  await mkdir(BIN, { recursive: true });
  const tool = (name: string, file: string) =>
    writeFile(join(BIN, name), `#!/bin/sh\nexec cat '${file}'\n`, { mode: 0o755 });
  await tool("crm_mon", join(BIN, "crm_mon.xml"));
  await tool("cibadmin", join(FIXTURES, "cib-resources.xml"));
}

const crmMonSays = (name: string) =>
  copyFile(join(FIXTURES, `crm_mon-${name}.xml`), join(BIN, "crm_mon.xml"));

describe("the cluster card in chromium, with recorded Pacemaker output", {
  timeout: TEST_MS,
}, () => {
  let session: PageSession;
  let published: Awaited<ReturnType<typeof publishAgent>> | undefined;
  let removePolicy: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installTools();
    await crmMonSays("healthy");
    removePolicy = await installPolicy();
    const agent = new TestAgent({
      domain: DOMAIN,
      uuid: UUID,
      peer: { uri: "qemu+ssh://colo-lab-b/system", domain: `${DOMAIN}-secondary` },
    });
    agent.play([{ kind: "convergent", seconds: 20 }], Date.now() - 10_000);
    published = await publishAgent(agent, UUID);
    // No /usr/sbin: the bridge finds this test's crm_mon and cibadmin, or none.
    session = await startPageSession({
      bridgePrefix: ["env", `PATH=${BIN}:/usr/local/bin:/usr/bin:/bin`],
    });
  }, 120_000);

  afterAll(async () => {
    await session?.close();
    await published?.close();
    await removePolicy?.();
    await rm(BIN, { recursive: true, force: true });
  });

  const card = () => session.page.locator("#cluster-card");

  it("shows where the pair is promoted and unpromoted, quorum, nodes, fencing", async () => {
    await session.open([UUID]);
    await card()
      .filter({ hasText: /Promoted\s*colo-lab-a[\s\S]*Unpromoted\s*colo-lab-b/ })
      .filter({ hasText: "Partition with quorum, DC colo-lab-a" })
      .filter({ hasText: "fence-lab on colo-lab-a" })
      .waitFor();
    await session.screenshot("domain-cluster", { full: true });
  });

  it("follows the failover: B promoted, A fenced by C", async () => {
    await crmMonSays("failed-over");
    await card()
      .filter({ hasText: /Promoted\s*colo-lab-b/ })
      .filter({ hasText: "colo-lab-a: off by colo-lab-c (success)" })
      .waitFor();
    await session.screenshot("domain-cluster-failed-over", { full: true });
  });

  it("shows no card once there is no crm_mon", async () => {
    await rm(join(BIN, "crm_mon"));
    await card().waitFor({ state: "detached" });
    await session.page.locator("#pair").waitFor();
  });
});
