// `colo-hybrid protect PRIMARY`: start COLO replication of a pair made by `pair create`.
import { parseArgs } from "node:util";
import { parseDecimal, parseInteger } from "../input/decimal.js";
import type { Libvirt } from "../libvirt/api.js";
import { connectLibvirt } from "../libvirt/connect.js";
import { connectPeer, nbdTarget, replicationTarget } from "../libvirt/peer.js";
import { parseDomainXml } from "../libvirt/xml/domain.js";
import { type ProtectProgress, protect } from "../pair/protect.js";
import { CliError } from "./errors.js";
import { imageDir, qemuVersion } from "./pair.js";
import { resync } from "./resync.js";

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export const PROTECT_HELP = `usage: colo-hybrid protect PRIMARY [options]
       colo-hybrid protect --resync DOMAIN --secondary-uri URI [options]

Starts COLO replication from PRIMARY (a domain made by 'colo-hybrid pair create', running) to
its secondary (started paused, waiting for the stream), and waits until both are in COLO.
On failure both are left as they were where QEMU allows, and the error says why.

With --resync, DOMAIN is a side of a pair that runs alone after a failover (the primary, or
the secondary that took over): it is protected again without stopping. A new secondary is
defined on URI's host under the pair's other name (in place of the pair's stale side there,
which must be shut off; its images are used again), with images of DOMAIN's disks' sizes, and
started paused; DOMAIN gets the primary's network plumbing while it runs, its disks are copied
into the secondary's, COLO starts, and DOMAIN is redefined as the pair's primary (its agent is
told). Failing back later is a failover and a resync the other way.

  --connect URI        libvirt URI of the primary's host (default qemu:///system)
  --period MS          checkpoint period in COLO (default: the domain's colo-period)
  --timeout S          give up after S seconds (default 120)
  --resync             protect DOMAIN again, as above
  --secondary-uri URI  with --resync: the new secondary's host, as this host reaches it
  --image-dir DIR      with --resync: where the secondary's images go on its host
                       (default /var/lib/colo-hybrid/images)
  --qemu-version X.Y   with --resync: QEMU on the secondary's host (default DOMAIN's)
`;

export async function protectCommand(args: string[], err: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      connect: { type: "string" },
      period: { type: "string" },
      timeout: { type: "string" },
      resync: { type: "boolean" },
      "secondary-uri": { type: "string" },
      "image-dir": { type: "string" },
      "qemu-version": { type: "string" },
    },
  });
  const name = positionals[0];
  if (name === undefined || positionals.length > 1)
    throw new CliError(`protect takes one ${values.resync ? "DOMAIN" : "PRIMARY domain"}`);
  const uri = values.connect ?? "qemu:///system";
  const timeoutS = values.timeout === undefined ? 120 : parseDecimal(values.timeout);
  if (timeoutS === undefined || !Number.isFinite(timeoutS) || timeoutS <= 0)
    throw new CliError("--timeout takes a number of seconds > 0");
  // Checked before connecting; without it the period is the domain's colo-period.
  let givenPeriod: number | undefined;
  if (values.period !== undefined) {
    givenPeriod = parseInteger(values.period);
    if (givenPeriod === undefined || !Number.isSafeInteger(givenPeriod) || givenPeriod <= 0)
      throw new CliError("--period takes a whole number of ms");
  }

  const showProgress = (p: ProtectProgress) =>
    p.note !== undefined
      ? err.write(`note: ${p.note}\n`)
      : err.write(
          `protect: ${p.phase}${p.primary ? ` (primary ${p.primary}, secondary ${p.secondary})` : ""}${p.synced ? ` (disks ${mib(p.synced.done)} of ${mib(p.synced.total)} MiB)` : ""}, ${(p.elapsedMs / 1000).toFixed(1)} s\n`,
        );
  const resyncOnly = ["secondary-uri", "image-dir", "qemu-version"] as const;
  if (values.resync) {
    const secondaryUri = values["secondary-uri"];
    if (secondaryUri === undefined)
      throw new CliError("protect --resync needs --secondary-uri URI");
    if (givenPeriod !== undefined)
      throw new CliError("--period is not for --resync: the pair's colo-period is kept");
    const imageDirGiven = imageDir(values["image-dir"]);
    const version = qemuVersion(values["qemu-version"]);
    return resync(
      {
        domain: name,
        connectUri: uri,
        secondaryUri,
        timeoutMs: timeoutS * 1000,
        progress: showProgress,
        ...(imageDirGiven !== undefined && { imageDir: imageDirGiven }),
        ...(version !== undefined && { qemuVersion: version }),
      },
      err,
    );
  }
  const stray = resyncOnly.find((o) => values[o] !== undefined);
  if (stray !== undefined) throw new CliError(`--${stray} goes with --resync`);

  const lv = await connectLibvirt(uri);
  const peers: Libvirt[] = [];
  try {
    const dom = await lv.lookupByName(name);
    const info = parseDomainXml(await lv.domainXml(dom));
    const meta = info.metadata;
    if (!meta)
      throw new CliError(
        `domain '${name}' has no colo-hybrid metadata: make the pair with 'colo-hybrid pair create'`,
      );
    if (!meta.ok)
      throw new CliError(
        `domain '${name}' has bad colo-hybrid metadata: ${meta.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
      );
    if (meta.value.role !== "primary")
      throw new CliError(
        `domain '${name}' is a COLO secondary: protect its primary, '${meta.value.peer.domain}'`,
      );
    const { peer, ports } = meta.value;
    if (ports === undefined)
      throw new CliError(
        `domain '${name}' keeps no replication port in its metadata (made by an older 'pair create'): make the pair again`,
      );
    const migrationUri = replicationTarget(peer.uri, ports.migration);
    const disks = info.colo?.disks ?? 0;
    if (disks > 0 && ports.nbd === undefined)
      throw new CliError(
        `domain '${name}' replicates ${disks} disk(s) but keeps no NBD port in its metadata: make the pair again`,
      );
    const slv = peer.uri === uri ? lv : await connectPeer(peer.uri);
    if (slv !== lv) peers.push(slv);
    const sdom = await slv.lookupByName(peer.domain);
    const period = givenPeriod ?? meta.value.params.coloPeriod;
    const result = await protect(
      { lv, dom },
      { lv: slv, dom: sdom },
      {
        period,
        migrationUri,
        ...(ports.nbd !== undefined &&
          disks > 0 && { disks: { count: disks, ...nbdTarget(peer.uri, ports.nbd) } }),
        timeoutMs: timeoutS * 1000,
        onProgress: showProgress,
      },
    );
    const sides = `QEMU ${result.primary.text} (${result.primary.accelerator}) and QEMU ${result.secondary.text} (${result.secondary.accelerator})`;
    process.stdout.write(
      result.already
        ? `Domain '${name}' is already in COLO with '${peer.domain}'\n`
        : `Domain '${name}' protected: COLO with '${peer.domain}' after ${(result.elapsedMs / 1000).toFixed(1)} s; ${sides}\n`,
    );
  } finally {
    for (const p of peers) await p.close();
    await lv.close();
  }
}
