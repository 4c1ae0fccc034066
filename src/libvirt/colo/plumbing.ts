// A plain domain made into a COLO pair: the primary's and the secondary's domain XML, each with
// the network plumbing of COLO's recipe in <qemu:commandline> and our metadata pointing at the
// other. Nothing here talks to libvirt; `colo-hybrid pair create` defines what this plans.
//
// The plumbing (QEMU's COLO docs; measured in the lab on libvirt 9.0 and QEMU 7.2):
//   primary                                         secondary
//   filter-mirror m0 (tx) -> mirror0 :A   <------   red0 -> filter-redirector f1 (tx)
//   colo-compare comp0 <- compare1 :B     <------   red1 <- filter-redirector f2 (rx)
//     primary_in  <- compare0-0 -> compare0 :C (loopback) <- filter-redirector redire1 (rx)
//     outdev -> compare_out0 -> compare_out :D (loopback) -> filter-redirector redire0 (rx)
//                                                   filter-rewriter rew0; -incoming tcp:...:M
import { isIP } from "node:net";
import { applyPatch, DEFAULT_PARAMS, type ParamPatch } from "../../colo/params.js";
import { LibvirtError } from "../errors.js";
import { parseLibvirtUri } from "../uri.js";
import { type DomainConfig, readDomainConfig } from "../xml/domain.js";
import { formatMetadata, type HybridMetadata } from "../xml/metadata.js";
import { parseXml } from "../xml/tree.js";
import { editDomain, writeXml } from "../xml/write.js";
import { PRIMARY_OBJECTS, SECONDARY_CHARDEVS, SECONDARY_OBJECTS } from "./ids.js";

/** The five TCP ports of a pair. */
export interface PairPorts {
  /** A: the primary's mirror0, its outgoing packets copied to the secondary's red0. */
  mirror: number;
  /** B: the primary's compare1, the secondary's output (red1) into colo-compare. */
  compare: number;
  /** C: the primary's own output into colo-compare (compare0 to compare0-0, loopback). */
  compareIn: number;
  /** D: colo-compare's verdict back into the primary's net (compare_out0 to compare_out). */
  compareOut: number;
  /** M: the secondary's -incoming, where the primary's replication stream goes. */
  migration: number;
}

/** The order of `--ports A,B,C,D,M`, and of the default ports from a base port. */
export const PORT_NAMES = ["mirror", "compare", "compareIn", "compareOut", "migration"] as const;
export const DEFAULT_BASE_PORT = 9000;
const PORT_RANGE = { min: 1024, max: 65_535 } as const;
export const DEFAULT_ADDRESS = "127.0.0.1";
export const DEFAULT_PRIMARY_URI = "qemu:///system";

export interface QemuVersion {
  major: number;
  minor: number;
}
/** Debian 12's, where the recipe was measured. */
export const DEFAULT_QEMU_VERSION: QemuVersion = { major: 7, minor: 2 };

export interface PairChoices {
  /** libvirt URI of the secondary's host, as the primary's host reaches it. */
  secondaryUri: string;
  /** libvirt URI of the primary's host, as the secondary's host reaches it; qemu:///system. */
  primaryUri?: string;
  /** Default: the plain domain's name, which then becomes the primary (same UUID). */
  primaryName?: string;
  /** Default: the plain domain's name + "-secondary". */
  secondaryName?: string;
  /** Where the secondary reaches the primary's servers (ports A and B); 127.0.0.1. */
  address?: string;
  /**
   * Where the secondary listens for the replication stream (port M): `address` when both run
   * on one host, else 0.0.0.0 (with a warning: give the secondary's own address).
   */
  incomingAddress?: string;
  /** The five ports; default basePort + 0..4 in PORT_NAMES order. */
  ports?: PairPorts;
  /** Default DEFAULT_BASE_PORT. */
  basePort?: number;
  /** colo-period (x-checkpoint-delay in COLO), ms; over params' own. */
  period?: number;
  /** Policy parameters by external name, over the defaults; stored in both domains' metadata. */
  params?: ParamPatch;
  /** QEMU on the secondary's host: its chardevs' reconnect option changed in 9.2. */
  qemuVersion?: QemuVersion;
}

export interface PairDomain {
  name: string;
  xml: string;
}

export interface PairPlan {
  primary: PairDomain;
  secondary: PairDomain;
  ports: PairPorts;
  /** Things to know that do not stop the pair from being defined. */
  warnings: string[];
}

/** The plain domain cannot become a pair as asked; every reason is listed. */
export class PairError extends Error {
  override name = "PairError";
  constructor(
    readonly domain: string,
    readonly problems: readonly string[],
  ) {
    super(`cannot make a COLO pair of '${domain}':\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const NO_DISKS =
  "disks are not yet supported: COLO needs block replication (quorum + replication + NBD); " +
  "protect a diskless domain or boot from kernel/initrd";

/** colo-compare's own channels stay on the primary's host. */
const LOOPBACK = "127.0.0.1";

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const WILDCARDS = new Set(["0.0.0.0", "::"]);

/**
 * Plans the pair for the plain domain's XML (`virsh dumpxml --inactive`, or a domain not yet
 * defined). Throws PairError listing every reason it cannot, XmlError for XML it cannot read.
 */
export function planPair(plainXml: string, choices: PairChoices): PairPlan {
  const root = parseXml(plainXml);
  const plain = readDomainConfig(root);
  const problems: string[] = [];
  const warnings: string[] = [];

  if (plain.type !== "qemu" && plain.type !== "kvm") {
    problems.push(
      `domain type '${plain.type}' is not supported: COLO pairs are QEMU domains (type 'qemu' or 'kvm')`,
    );
  }
  if (plain.colo !== undefined) {
    const what = [...plain.colo.objects, ...(plain.colo.incoming ? ["-incoming"] : [])];
    problems.push(
      `already a COLO domain: its <qemu:commandline> carries a COLO ${plain.colo.role}'s plumbing (${what.join(", ")})`,
    );
  }
  const netdev = netdevOf(plain, problems);
  const disks = plain.disks.filter((d) => d.source !== undefined || !isRemovable(d.device));
  if (disks.length > 0) {
    const found = disks.map((d) =>
      [d.device, d.target, d.source && `(${d.source})`].filter(Boolean).join(" "),
    );
    problems.push(`${NO_DISKS} (found: ${found.join(", ")})`);
  }

  const primaryName = choices.primaryName ?? plain.name;
  const secondaryName = choices.secondaryName ?? `${plain.name}-secondary`;
  const secondaryUri = choices.secondaryUri;
  const primaryUri = choices.primaryUri ?? DEFAULT_PRIMARY_URI;
  const secondaryHost = hostOf(secondaryUri, "secondary", problems);
  const primaryHost = hostOf(primaryUri, "primary", problems);
  const oneHost = secondaryHost === undefined;
  if (oneHost && primaryName === secondaryName) {
    problems.push(
      `the primary and the secondary are both named '${primaryName}': on one host they need two names`,
    );
  }

  const address = choices.address ?? DEFAULT_ADDRESS;
  const addressBad = hostProblem(address);
  if (addressBad !== undefined || WILDCARDS.has(address)) {
    problems.push(
      `address '${address}' is not allowed: ${addressBad ?? "a wildcard"}; give the address at which the secondary reaches the primary's host`,
    );
  }
  const incoming = choices.incomingAddress ?? (oneHost ? address : "0.0.0.0");
  const incomingBad = incoming === address ? undefined : hostProblem(incoming);
  if (incomingBad !== undefined) {
    problems.push(`incoming address '${incoming}' is not allowed: ${incomingBad}`);
  }

  if (choices.ports !== undefined && choices.basePort !== undefined) {
    problems.push("give the five ports or a base port, not both");
  }
  const base = choices.basePort ?? DEFAULT_BASE_PORT;
  const ports =
    choices.ports ??
    (Object.fromEntries(PORT_NAMES.map((n, i) => [n, base + i])) as unknown as PairPorts);
  problems.push(...portProblems(ports));

  const patch = {
    ...choices.params,
    ...(choices.period === undefined ? {} : { "colo-period": choices.period }),
  };
  const applied = applyPatch(DEFAULT_PARAMS, patch);
  if (!applied.ok) problems.push(...applied.errors.map((e) => e.message));
  const params = applied.ok ? applied.params : DEFAULT_PARAMS;

  const metadata = (role: HybridMetadata["role"], uri: string, domain: string): HybridMetadata => ({
    role,
    peer: { uri, domain },
    protect: false,
    params,
  });
  const primaryMeta = metadata("primary", secondaryUri, secondaryName);
  const secondaryMeta = metadata("secondary", primaryUri, primaryName);
  for (const m of [primaryMeta, secondaryMeta]) {
    try {
      formatMetadata(m);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      if (!problems.includes(e.message)) problems.push(e.message);
    }
  }
  if (problems.length > 0) throw new PairError(plain.name, problems);

  const version = choices.qemuVersion ?? DEFAULT_QEMU_VERSION;
  const renamed = primaryName !== plain.name;
  const primary = writeXml(
    editDomain(root, {
      ...(renamed ? { name: primaryName, uuid: null } : {}),
      qemuArgs: [...plain.qemuArgs, ...primaryArgs(netdev, address, ports)],
      metadata: primaryMeta,
    }),
  );
  const secondary = writeXml(
    editDomain(root, {
      name: secondaryName,
      uuid: null,
      qemuArgs: [...plain.qemuArgs, ...secondaryArgs(netdev, address, incoming, ports, version)],
      metadata: secondaryMeta,
      renameFiles: (path) => {
        // Two QEMUs cannot log to one file (virtlogd holds it for the first): the secondary
        // gets its own, named after it where the path names the primary.
        const own = path.includes(plain.name)
          ? path.replaceAll(plain.name, secondaryName)
          : `${path}.secondary`;
        if (own !== path) warnings.push(`the secondary logs to ${own}, not ${path}`);
        return own;
      },
    }),
  );

  warnings.push(
    `starting '${primaryName}' waits until '${secondaryName}' has connected (the primary's compare1 chardev has wait=on): start the secondary first, paused`,
  );
  if (renamed) {
    warnings.push(
      `the primary '${primaryName}' is a new domain with a new UUID: '${plain.name}' stays as it is`,
    );
  }
  if (plain.metadata !== undefined) {
    warnings.push(`'${plain.name}' had colo-hybrid metadata already: it is replaced`);
  }
  if (plain.type === "qemu" && before(version, 9, 0)) {
    warnings.push(
      `'${plain.name}' runs under TCG (type 'qemu'): before 9.0, QEMU's COLO primary under TCG loses dirty pages (and 7.2's deadlocks at the first checkpoint) unless worked around at run time; COLO is meant for KVM`,
    );
  }
  if (version.major === 10 && version.minor === 0) {
    warnings.push(
      "QEMU 10.0 never enters COLO (the migration ends 'completed': an upstream regression, fixed late 2025): the pair will not replicate",
    );
  }
  if (!oneHost) {
    if (isLoopback(address)) {
      warnings.push(
        `the secondary runs on ${secondaryHost}, but it reaches the primary at ${address}, its own loopback address: right only if ports ${ports.mirror} and ${ports.compare} are tunnelled there`,
      );
    }
    if (primaryHost === undefined) {
      warnings.push(
        `the secondary's peer URI ${primaryUri} names ${secondaryHost} itself: give the URI by which ${secondaryHost} reaches the primary's host`,
      );
    }
    if (WILDCARDS.has(incoming)) {
      warnings.push(
        `the secondary listens for the replication stream on every address of ${secondaryHost} (port ${ports.migration}): give its address on the replication network instead`,
      );
    }
  }
  return {
    primary: { name: primaryName, xml: primary },
    secondary: { name: secondaryName, xml: secondary },
    ports,
    warnings,
  };
}

/** The netdev libvirt makes for the domain's one NIC; problems when it has none, or others. */
function netdevOf(plain: DomainConfig, problems: string[]): string {
  const [nic, ...more] = plain.nics;
  if (nic === undefined) {
    problems.push(
      "no NIC: COLO compares the two sides' network output, so the domain needs one <interface type='user'>",
    );
  } else if (more.length > 0) {
    problems.push(
      `${plain.nics.length} NICs: COLO's filters are set up on one; give the domain exactly one <interface type='user'>`,
    );
  } else if (nic.type !== "user") {
    // A tap (network, bridge, direct) would put the secondary on the wire with the primary's
    // MAC address, and vhost-net would carry packets past COLO's filters.
    problems.push(
      `<interface type='${nic.type}'> is not supported: only type='user' (QEMU user networking) is; with a tap the secondary would be on the network with the primary's MAC address`,
    );
  }
  // libvirt names the netdev "host" + the device alias: net0 for the first NIC, or the user's.
  return `host${nic?.alias ?? "net0"}`;
}

function isRemovable(device: string): boolean {
  return device === "cdrom" || device === "floppy";
}

/** The host of a libvirt URI; undefined for this host. */
function hostOf(uri: string, side: string, problems: string[]): string | undefined {
  try {
    const host = parseLibvirtUri(uri).host;
    return host === undefined || isLoopback(host) || host === "localhost" ? undefined : host;
  } catch (e) {
    if (!(e instanceof LibvirtError)) throw e;
    problems.push(`the ${side}'s URI: ${e.message}`);
    return undefined;
  }
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "localhost";
}

/** Why `host` cannot go into QEMU's options (a comma would start another option). */
function hostProblem(host: string): string | undefined {
  return isIP(host) !== 0 || HOSTNAME.test(host) ? undefined : "not an IP address or host name";
}

function portProblems(ports: PairPorts): string[] {
  const problems: string[] = [];
  const users = new Map<number, string[]>();
  for (const name of PORT_NAMES) {
    const port = ports[name];
    if (!Number.isInteger(port) || port < PORT_RANGE.min || port > PORT_RANGE.max) {
      problems.push(`port ${name}=${port} is out of range: ${PORT_RANGE.min}..${PORT_RANGE.max}`);
    }
    users.set(port, [...(users.get(port) ?? []), name]);
  }
  for (const [port, names] of users) {
    if (names.length > 1) problems.push(`ports clash: ${names.join(", ")} share port ${port}`);
  }
  return problems;
}

function before(v: QemuVersion, major: number, minor: number): boolean {
  return v.major < major || (v.major === major && v.minor < minor);
}

const chardev = (id: string, host: string, port: number, ...options: string[]) => [
  "-chardev",
  ["socket", `id=${id}`, `host=${host}`, `port=${port}`, ...options].join(","),
];
const object = (...fields: string[]) => ["-object", fields.join(",")];

// The primary's chardevs: only plumbing knows them (failover removes objects, not these).
const PRIMARY_CHARDEVS = {
  mirror: "mirror0",
  compare: "compare1",
  compareIn: "compare0",
  compareInClient: "compare0-0",
  compareOut: "compare_out",
  compareOutClient: "compare_out0",
} as const;

function primaryArgs(netdev: string, address: string, p: PairPorts): string[] {
  const c = PRIMARY_CHARDEVS;
  const o = PRIMARY_OBJECTS;
  const server = ["server=on", "wait=off"];
  return [
    ...chardev(c.mirror, address, p.mirror, ...server),
    // QEMU does not start before the secondary's red1 connects: colo-compare needs its input.
    ...chardev(c.compare, address, p.compare, "server=on", "wait=on"),
    ...chardev(c.compareIn, LOOPBACK, p.compareIn, ...server),
    ...chardev(c.compareInClient, LOOPBACK, p.compareIn),
    ...chardev(c.compareOut, LOOPBACK, p.compareOut, ...server),
    ...chardev(c.compareOutClient, LOOPBACK, p.compareOut),
    ...object(
      "filter-mirror",
      `id=${o.mirror}`,
      `netdev=${netdev}`,
      "queue=tx",
      `outdev=${c.mirror}`,
    ),
    ...object(
      "filter-redirector",
      `id=${o.redirectorIn}`,
      `netdev=${netdev}`,
      "queue=rx",
      `indev=${c.compareOut}`,
    ),
    ...object(
      "filter-redirector",
      `id=${o.redirectorOut}`,
      `netdev=${netdev}`,
      "queue=rx",
      `outdev=${c.compareIn}`,
    ),
    ...object("iothread", `id=${o.iothread}`),
    ...object(
      "colo-compare",
      `id=${o.compare}`,
      `primary_in=${c.compareInClient}`,
      `secondary_in=${c.compare}`,
      `outdev=${c.compareOutClient}`,
      `iothread=${o.iothread}`,
    ),
  ];
}

function secondaryArgs(
  netdev: string,
  address: string,
  incoming: string,
  p: PairPorts,
  version: QemuVersion,
): string[] {
  const c = SECONDARY_CHARDEVS;
  const o = SECONDARY_OBJECTS;
  // The secondary starts first and keeps trying until the primary's servers are up.
  const reconnect = before(version, 9, 2) ? "reconnect=1" : "reconnect-ms=1000";
  const listen = isIP(incoming) === 6 ? `[${incoming}]` : incoming;
  return [
    ...chardev(c.mirror, address, p.mirror, reconnect),
    ...chardev(c.compare, address, p.compare, reconnect),
    ...object(
      "filter-redirector",
      `id=${o.redirectorTx}`,
      `netdev=${netdev}`,
      "queue=tx",
      `indev=${c.mirror}`,
    ),
    ...object(
      "filter-redirector",
      `id=${o.redirectorRx}`,
      `netdev=${netdev}`,
      "queue=rx",
      `outdev=${c.compare}`,
    ),
    ...object("filter-rewriter", `id=${o.rewriter}`, `netdev=${netdev}`, "queue=all"),
    "-incoming",
    `tcp:${listen}:${p.migration}`,
  ];
}
