// The resource agent ocf:colo-hybrid:colo on the lab's cluster (cluster.ts): installed on each
// host as the package puts it, and a pair made a promotable clone of Pacemaker's.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../support/exec.js";
import type { LabHost } from "./hosts.js";
import { LAB_DIR, REPO_DIR } from "./layout.js";

/** Pacemaker 2.1 finds OCF agents under this path only (no OCF_RA_PATH). */
const OCF_DIR = "/usr/lib/ocf/resource.d";
const PROVIDERS = join(LAB_DIR, "ocf");
/** The agent, where Pacemaker (and ocf-tester) run it on a host. */
export const OCF_AGENT = join(OCF_DIR, "colo-hybrid", "colo");

/** `crm_mon`'s name of the pair's primitive, and of its clone. */
export const resourceNames = (domain: string) => ({
  primitive: `colo-${domain}`,
  clone: `colo-${domain}-clone`,
});

/**
 * ocf:colo-hybrid:colo on each host, for the checkout's bundle (`make install-ocf`, as the
 * package's but with the LIBDIR and NODE of the tests), seen at OCF_DIR/colo-hybrid/colo
 * through a read-only overlay of the host's own: this machine's /usr stays as it is.
 */
export async function installResourceAgent(hosts: readonly LabHost[]): Promise<void> {
  await mkdir(PROVIDERS, { recursive: true });
  await run("make", [
    ...["-C", REPO_DIR, "--no-print-directory", "install-ocf"],
    `OCFDIR=${join(PROVIDERS, "colo-hybrid")}`,
    `LIBDIR=${join(REPO_DIR, "dist")}`,
    `NODE=${process.execPath}`,
  ]);
  for (const host of hosts)
    await host.run("mount", [
      ...["-t", "overlay", "overlay", "-o", `lowerdir=${PROVIDERS}:${OCF_DIR}`, OCF_DIR],
    ]);
}

/**
 * The pair as a promotable clone, configured with crmsh on `host`: one instance per side's node
 * (none on `notOn`, the quorum node), promoted where the guest runs. Monitors every 2 s
 * (promoted) and 3 s (unpromoted): Pacemaker wants a different interval per role. One commit
 * for all of it: a primitive committed on its own would be probed and started as a plain
 * resource before the clone exists.
 */
export async function configureColoResource(
  host: LabHost,
  domain: string,
  notOn: string,
): Promise<void> {
  const { primitive, clone } = resourceNames(domain);
  const file = join(LAB_DIR, `${primitive}.crm`);
  await writeFile(
    file,
    `primitive ${primitive} ocf:colo-hybrid:colo params domain=${domain} \\
  op monitor interval=2s role=Promoted timeout=20s \\
  op monitor interval=3s role=Unpromoted timeout=20s \\
  op start timeout=60s op stop timeout=60s op promote timeout=60s op demote timeout=60s
clone ${clone} ${primitive} meta promotable=true promoted-max=1 promoted-node-max=1 \\
  clone-max=2 clone-node-max=1 notify=true
location ${clone}-not-${notOn} ${clone} -inf: ${notOn}
`,
  );
  await host.run("crm", ["configure", "load", "update", file]);
}
