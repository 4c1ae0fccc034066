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
// Each of the domain's NICs has all of it but the -incoming and colo-compare's IOThread, with its
// own ids (ids.ts) and ports A-D (nic.ts: which netdev, vnet headers, vhost-net off).
import { isIP } from "node:net";
import { applyPatch, DEFAULT_PARAMS, type ParamPatch } from "../colo/params.js";
import {
  hostProblem,
  isLoopback,
  PeerUriError,
  parsePeerUri,
  peerUriProblem,
} from "../libvirt/peer-uri.js";
import {
  type DomainConfig,
  diskTarget,
  hasIothread,
  type QemuId,
  qemuDefinitions,
  readDomainConfig,
} from "../libvirt/xml/domain.js";
import { formatMetadata, type HybridMetadata, type NicPorts } from "../libvirt/xml/metadata.js";
import { parseXml, type XmlElement } from "../libvirt/xml/tree.js";
import { editDomain, withDriverName, writeXml } from "../libvirt/xml/write.js";
import { DEFAULT_IMAGE_DIR, planDisks, type SecondaryImage } from "./disks.js";
import { nicIds } from "./ids.js";
import { type NicPlumbing, planNics, vhostOffWarning } from "./nic.js";
import { LOOPBACK, type NetworkPiece, networkArgs, primaryNetwork } from "./primary-network.js";
import { RETURN_PATH_CONFLICT } from "./protect.js";
import {
  NEVER_ENTERS_COLO,
  neverEntersColo,
  type QemuVersion,
  reconnectOption,
  tcgLosesDirtyPages,
} from "./qemu-versions.js";

/** The TCP ports of a pair: its first NIC's, the replication stream's, NBD's, the other NICs'. */
export type { NicPorts };

export interface PairPorts extends NicPorts {
  /** M: the secondary's -incoming, where the primary's replication stream goes. */
  migration: number;
  /** N: the secondary's NBD server, its disks' base images (only a domain with disks). */
  nbd?: number;
  /** NICs 1, 2, ... in <interface> order, four ports each; absent with one NIC. */
  moreNics?: NicPorts[];
}

/** The order of each NIC's ports in `--ports`, and from its first port. */
export const NIC_PORT_NAMES = ["mirror", "compare", "compareIn", "compareOut"] as const;
/** The order of `--ports A,B,C,D,M`, and of the default ports from a base port. */
export const PORT_NAMES = [...NIC_PORT_NAMES, "migration"] as const;
export const DEFAULT_BASE_PORT = 9000;
/** The NBD port is the sixth of `--ports`, or the base port + 5. */
const NBD_PORT_OFFSET = 5;
/** NIC k (k >= 1) has the four ports after the sixth and NIC k-1's: base port + 6 + 4(k-1). */
export const MORE_NICS_PORT_OFFSET = 6;
const PORT_RANGE = { min: 1024, max: 65_535 } as const;
export const DEFAULT_ADDRESS = "127.0.0.1";
export const DEFAULT_PRIMARY_URI = "qemu:///system";

export type { QemuVersion };
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
  /** Default: a new one. Re-protection keeps the UUID of the domain the secondary replaces. */
  secondaryUuid?: string;
  /** Where the secondary reaches the primary's servers (ports A and B); 127.0.0.1. */
  address?: string;
  /**
   * Where the secondary listens for the replication stream (port M): loopback when both run on
   * one host (where the primary's agent sends it), else replicationHost, or 0.0.0.0 without one
   * (with a warning: give the secondary's own address).
   */
  incomingAddress?: string;
  /**
   * Where the primary sends the stream across hosts: the secondary's host, or its address in
   * hosts.conf (peer.ts, replicationTarget). Given, a listening address that differs is warned of.
   */
  replicationHost?: string;
  /**
   * The five ports (six with disks, and four more per NIC after the first); default basePort +
   * 0..4 in PORT_NAMES order, nbd + 5, NIC k's from + 6 + 4(k-1).
   */
  ports?: PairPorts;
  /** Where the secondary's disk images go on its host; DEFAULT_IMAGE_DIR. */
  imageDir?: string;
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
  /** The images to make on the secondary's host before it starts, empty. */
  images: SecondaryImage[];
  /** Where they go on that host. */
  imageDir: string;
  /** The replicated disks' images on the primary's host, which QEMU opens itself now. */
  primaryImages: string[];
  /** The replicated disks' targets ("vda"): disk n is the n-th; images' sizeOf names them. */
  diskTargets: string[];
  /** The primary's network plumbing, which its <qemu:commandline> carries (primary-network.ts). */
  primaryNetwork: NetworkPiece[];
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
  // An -incoming alone is no COLO plumbing (coloPlumbing reads it as a secondary's): it is
  // refused with the ids that clash with ours, below.
  const alreadyColo = plain.colo?.objects.some((o) => COLO_OBJECT.test(o)) === true;
  if (plain.colo !== undefined && alreadyColo) {
    const what = [...plain.colo.objects, ...(plain.colo.incoming ? ["-incoming"] : [])];
    problems.push(
      `already a COLO domain: its <qemu:commandline> carries a COLO ${plain.colo.role}'s plumbing (${what.join(", ")})`,
    );
  }
  const nics = planNics(plain.nics, problems);
  problems.push(...unmigratable(plain), ...returnPathProblems(plain.qemuArgs));

  const primaryName = choices.primaryName ?? plain.name;
  const secondaryName = choices.secondaryName ?? `${plain.name}-secondary`;
  const imageDir = choices.imageDir ?? DEFAULT_IMAGE_DIR;
  const disks = planDisks(
    plain.disks,
    {
      imageDir,
      secondaryName,
      q35: plain.machine?.includes("q35") === true,
      controllers: plain.controllers,
    },
    problems,
    warnings,
  );
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
  const incoming =
    choices.incomingAddress ?? (oneHost ? LOOPBACK : (choices.replicationHost ?? "0.0.0.0"));
  const incomingBad = hostProblem(incoming);
  if (incomingBad !== undefined) {
    problems.push(`incoming address '${incoming}' is not allowed: ${incomingBad}`);
  } else if (oneHost && !isLoopback(incoming)) {
    problems.push(
      `incoming address '${incoming}' is not allowed on one host: the primary sends the replication stream to ${LOOPBACK}`,
    );
  }

  if (choices.ports !== undefined && choices.basePort !== undefined) {
    problems.push("give the five ports or a base port, not both");
  }
  const base = choices.basePort ?? DEFAULT_BASE_PORT;
  const given = choices.ports ?? defaultPorts(base, nics.length);
  // Only a pair with disks has an NBD server; only one with more NICs has their ports.
  const { nbd, moreNics = [], ...network } = given;
  const ports: PairPorts = {
    ...network,
    ...(disks.targets.length > 0 && { nbd: nbd ?? base + NBD_PORT_OFFSET }),
    ...(moreNics.length > 0 && { moreNics }),
  };
  if (nics.length > 0 && moreNics.length !== nics.length - 1) {
    const count = (n: number) => `${n} NIC${n === 1 ? "" : "s"}`;
    problems.push(
      `the domain has ${count(nics.length)}, but the ports given are for ${count(moreNics.length + 1)}: each NIC needs its own four (${NIC_PORT_NAMES.join(", ")})`,
    );
  }
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
  // Replicated disks leave <devices> for <qemu:commandline>; a virtio tap NIC loses vhost-net.
  // The <interface> elements are told by identity: plain.nics are read from them, in order, and
  // editDomain hands them over as they are.
  const interfaces = root.children
    .filter((c) => c.ns === "" && c.name === "devices")
    .flatMap((d) => d.children.filter((c) => c.ns === "" && c.name === "interface"));
  const vhostOff = new Set(interfaces.filter((_, n) => nics[n]?.vhostOff === true));
  const edit = (el: XmlElement): XmlElement | null => {
    if (el.name === "disk") return disks.targets.includes(diskTarget(el) ?? "") ? null : el;
    return vhostOff.has(el) ? withDriverName(el, "qemu") : el;
  };
  const changed = root.children
    .filter((c) => c.ns === "" && c.name === "devices")
    .flatMap((d) => d.children.filter((c) => edit(c) !== c));
  const secondaryMeta = metadata("secondary", primaryUri, primaryName);
  if (changed.length > 0) {
    const original = writeXml({ ...root, name: "devices", attrs: [], children: changed });
    primaryMeta.original = original;
    secondaryMeta.original = original;
  }
  for (const m of [primaryMeta, secondaryMeta]) {
    // The URIs and the ports were checked above, each problem said once, naming the side.
    if (peerUriProblem(m.peer.uri) === undefined) {
      try {
        formatMetadata(m);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        if (!problems.includes(e.message)) problems.push(e.message);
      }
    }
    // The agent derives where replication goes from these and the peer's URI, never from the
    // peer's XML.
    m.ports = {
      migration: ports.migration,
      ...(ports.nbd !== undefined && { nbd: ports.nbd }),
      ...(nics.length > 0 && { nics: nicPorts(ports).slice(0, nics.length) }),
    };
  }
  const version = choices.qemuVersion ?? DEFAULT_QEMU_VERSION;
  const primaryPieces = primaryNetwork(nics, address, nicPorts(ports));
  const plumbing = {
    primary: [...disks.primaryArgs, ...networkArgs(primaryPieces)],
    secondary: [...disks.secondaryArgs, ...secondaryArgs(nics, address, incoming, ports, version)],
  };
  // A COLO domain's own plumbing clashes with ours, of course: refused above already.
  if (!alreadyColo) problems.push(...clashes(plain, plumbing));
  if (problems.length > 0) throw new PairError(plain.name, problems);

  const renamed = primaryName !== plain.name;
  const primary = writeXml(
    editDomain(root, {
      ...(renamed ? { name: primaryName, uuid: null } : {}),
      qemuArgs: [...plain.qemuArgs, ...plumbing.primary],
      metadata: primaryMeta,
      devices: edit,
    }),
  );
  const secondary = writeXml(
    editDomain(root, {
      name: secondaryName,
      uuid: choices.secondaryUuid ?? null,
      qemuArgs: [...plain.qemuArgs, ...plumbing.secondary],
      metadata: secondaryMeta,
      devices: edit,
      renameFiles: (path) => {
        // Two QEMUs cannot log to one file (virtlogd holds it for the first): the secondary
        // gets its own.
        const own = secondaryPath(path, plain.name, secondaryName);
        const warning = `the secondary logs to ${own}, not ${path}`;
        // libvirt repeats a serial port as the <console>: one file, said once.
        if (own !== path && !warnings.includes(warning)) warnings.push(warning);
        return own;
      },
    }),
  );

  warnings.push(
    `starting '${primaryName}' waits until '${secondaryName}' has connected (the primary's compare1 chardev has wait=on): start the secondary first, paused`,
  );
  for (const [n, nic] of plain.nics.entries()) {
    if (nics[n]?.vhostOff) warnings.push(vhostOffWarning(nic));
  }
  if (renamed) {
    warnings.push(
      `the primary '${primaryName}' is a new domain with a new UUID: '${plain.name}' stays as it is`,
    );
  }
  if (plain.metadata !== undefined) {
    warnings.push(`'${plain.name}' had colo-hybrid metadata already: it is replaced`);
  }
  if (plain.type === "qemu" && tcgLosesDirtyPages(version)) {
    warnings.push(
      `'${plain.name}' runs under TCG (type 'qemu'): before 9.0, QEMU's COLO primary under TCG loses dirty pages (and 7.2's deadlocks at the first checkpoint) unless worked around at run time; COLO is meant for KVM`,
    );
  }
  if (neverEntersColo(version)) {
    warnings.push(
      `QEMU ${version.major}.${version.minor} never enters COLO: the migration ends 'completed' (${NEVER_ENTERS_COLO}): the pair will not replicate`,
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
    } else if (choices.replicationHost !== undefined && choices.replicationHost !== incoming) {
      warnings.push(
        `the secondary listens for the replication stream on ${incoming}, but the primary sends it to ${choices.replicationHost}: set 'address = ${incoming}' for ${secondaryHost} in /etc/colo-hybrid/hosts.conf`,
      );
    }
  }
  return {
    primary: { name: primaryName, xml: primary },
    secondary: { name: secondaryName, xml: secondary },
    ports,
    images: disks.images,
    imageDir,
    primaryImages: disks.sources,
    diskTargets: disks.targets,
    primaryNetwork: primaryPieces,
    warnings,
  };
}

/** COLO's own objects, as ColoPlumbing lists them ("colo-compare,id=comp0"). */
const COLO_OBJECT = /^(colo-compare|filter-rewriter)(,|$)/;

/** `<tag a='v' ...>`, the attributes that are set. */
function element(tag: string, attrs: Record<string, string | undefined>): string {
  const set = Object.entries(attrs).filter(([, v]) => v !== undefined);
  return `<${[tag, ...set.map(([k, v]) => `${k}='${v}'`)].join(" ")}>`;
}

/** One problem for each reason, listing every device it applies to. */
function refuse(reason: string, found: readonly string[]): string[] {
  return found.length === 0 ? [] : [`${reason} (found: ${found.join(", ")})`];
}

/**
 * The secondary's own file for one of the primary's: the domain's name in the file name, as a
 * whole word, becomes the secondary's; else `.secondary` is appended. Directories stay: they
 * exist already, and a domain named `lib` must not move its logs to /var/lib-secondary.
 */
function secondaryPath(path: string, name: string, secondaryName: string): string {
  const dir = path.slice(0, path.lastIndexOf("/") + 1);
  const file = path.slice(dir.length);
  const at = wordAt(file, name);
  if (at === undefined) return `${path}.secondary`;
  return `${dir}${file.slice(0, at)}${secondaryName}${file.slice(at + name.length)}`;
}

const WORD_CHAR = /[A-Za-z0-9]/;

/** Where `word` first occurs in `text` not run together with letters or digits (web1, not web10). */
function wordAt(text: string, word: string): number | undefined {
  const joined = (c: string | undefined) => c !== undefined && WORD_CHAR.test(c);
  for (let i = text.indexOf(word); i >= 0; i = text.indexOf(word, i + 1)) {
    if (!joined(text[i - 1]) && !joined(text[i + word.length])) return i;
  }
  return undefined;
}

/**
 * What COLO cannot carry to the secondary: what QEMU (or libvirt) will not migrate, and what
 * lives outside the guest's memory and devices, in the host, where no checkpoint reaches it. The
 * secondary runs beside the primary from the start, so a host resource given to one guest
 * cannot be given to both either.
 *
 * Not refused: <vsock>. QEMU's vhost-vsock migrates: hw/virtio/vhost-vsock.c registers no
 * blocker and has a vmstate ("virtio-vhost_vsock", the virtio device), and after loading it
 * tells the guest to reset its connections (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). Nor an emulated TPM (<backend type='emulator'>: swtpm's state migrates with QEMU's), a
 * smartcard of mode='host-certificates' (a software card), graphics, serial, console, video
 * without 3D acceleration, sound, rng, watchdog, memballoon or controllers.
 */
/** The domain's own <qemu:commandline> may turn QEMU's return-path capability on at start. */
function returnPathProblems(args: readonly string[]): string[] {
  const on = args.some(
    (a, i) => args[i - 1] === "-global" && /^migration\.x-return-path=(on|true|yes)$/.test(a),
  );
  return on
    ? [
        `its <qemu:commandline> sets -global migration.x-return-path=on: ${RETURN_PATH_CONFLICT}; remove it`,
      ]
    : [];
}

function unmigratable(plain: DomainConfig): string[] {
  const path = (p: string | undefined) => (p === undefined ? "" : ` (${p})`);
  const filesystems = plain.filesystems.map((f) => {
    const driver = f.driver === "virtiofs" ? "virtiofs" : `9p${f.driver ? ` ${f.driver}` : ""}`;
    const where = [f.source, f.target && `target '${f.target}'`].filter(Boolean).join(", ");
    return `${element("filesystem", { type: f.type })} ${driver}${path(where || undefined)}`;
  });
  const invtsc = plain.cpuFeatures.filter(
    (f) => f.name === "invtsc" && (f.policy === "require" || f.policy === "force"),
  );
  return [
    ...refuse(
      "host devices cannot be in a COLO pair: a <hostdev> is given to one QEMU, but the " +
        "secondary runs beside the primary, and the device's state is in the hardware, where no " +
        "checkpoint reaches it",
      plain.hostdevs.map(
        (h) => `${element("hostdev", { mode: h.mode, type: h.type })}${path(h.source)}`,
      ),
    ),
    ...refuse(
      "shared host directories cannot be in a COLO pair: what the guest writes there is in the " +
        "host's files, not in its memory, where no checkpoint reaches it; and QEMU does not " +
        "migrate them (virtiofs never, 9p not while the guest has it mounted)",
      filesystems,
    ),
    ...refuse(
      "shared memory cannot be in a COLO pair: it is shared with other processes of the host, " +
        "outside what checkpoints copy; and QEMU blocks migrating an ivshmem peer (role='peer', " +
        "the default; libvirt migrates only role='master')",
      plain.shmems.map(
        (m) => `${element("shmem", { name: m.name, role: m.role })}${path(m.model)}`,
      ),
    ),
    ...refuse(
      "a host TPM cannot be in a COLO pair: QEMU disables migration with the TPM passthrough " +
        "backend (the TPM's state is in the host's chip, which serves one guest); an emulated " +
        "TPM (<backend type='emulator'>) can be",
      plain.tpms
        .filter((t) => t.backend === "passthrough")
        .map((t) => `${element("tpm", { model: t.model })} passthrough${path(t.path)}`),
    ),
    ...refuse(
      "host input devices cannot be in a COLO pair: QEMU marks virtio-input-host " +
        "(type='passthrough') unmigratable, and an evdev input (type='evdev') is the host's own " +
        "device, which QEMU grabs for one guest: the secondary gets none of it, beside the primary " +
        "or on another host",
      plain.inputs
        .filter((i) => i.type === "passthrough" || i.type === "evdev")
        .map((i) => `${element("input", { type: i.type, bus: i.bus })}${path(i.source)}`),
    ),
    ...refuse(
      "host smartcards cannot be in a COLO pair: the card is outside QEMU (the host's reader, " +
        "or the client's for mode='passthrough'), so the secondary would send its own commands " +
        "to the same card, and no checkpoint carries the card's state",
      plain.smartcards
        .filter((c) => c.mode === "host" || c.mode === "passthrough")
        .map((c) => element("smartcard", { mode: c.mode, type: c.type })),
    ),
    ...refuse(
      "3D acceleration cannot be in a COLO pair: QEMU blocks migration with virgl ('virgl is " +
        "not yet migratable'), whose state is in the host's GPU driver; use accel3d='no'",
      plain.videos
        .filter((v) => v.accel3d)
        .map((v) => `${element("video", {})} ${v.model ?? "?"} with accel3d='yes'`),
    ),
    ...refuse(
      "virtio-crypto cannot be in a COLO pair: QEMU marks the device unmigratable",
      plain.cryptos.map(
        (c) => `${element("crypto", { model: c.model, type: c.type })}${path(c.backend)}`,
      ),
    ),
    ...refuse(
      "a confidential guest cannot be in a COLO pair: its memory is encrypted for this host's " +
        "CPU or firmware, and QEMU blocks its migration (SEV: 'Migration is not implemented'; " +
        "s390 PV: 'protected VMs are currently not migratable')",
      plain.launchSecurity === undefined
        ? []
        : [element("launchSecurity", { type: plain.launchSecurity })],
    ),
    ...refuse(
      "Hyper-V passthrough cannot be in a COLO pair: QEMU blocks migration with hv-passthrough " +
        "('use explicit set of hv-* flags instead'): list the enlightenments in mode='custom'",
      plain.hyperv === "passthrough" ? [element("hyperv", { mode: "passthrough" })] : [],
    ),
    ...refuse(
      "an invariant TSC cannot be in a COLO pair without a TSC frequency: QEMU blocks migration " +
        "with the invtsc CPU feature unless the frequency is set; add <timer name='tsc' " +
        "frequency='...'/> to <clock>",
      plain.tscFrequency === undefined
        ? invtsc.map((f) => element("feature", { policy: f.policy, name: f.name }))
        : [],
    ),
  ];
}

/**
 * Ids the plain domain already defines that the plumbing defines too: QEMU refuses to start
 * with two chardevs, or two objects, of one id. QEMU keeps an id space per kind (a chardev may
 * share its id with an object, a netdev or a device), so only the same kind clashes; the
 * plumbing defines chardevs and objects only, read back from its own arguments here.
 *
 * libvirt's own ids: its IOThreads are objects "iothread" + N, the name of colo-compare's
 * IOThread. A user alias (<alias name='ua-...'/>) cannot clash: libvirt keeps only aliases that
 * start with "ua-" in a definition, and every id it derives from one contains the alias ("char"
 * + alias for a chardev, "obj" or "mem" + alias for an object, "host" + alias for a netdev); no
 * id of the plumbing contains "ua-".
 */
function clashes(
  plain: DomainConfig,
  plumbing: Record<"primary" | "secondary", string[]>,
): string[] {
  const problems: string[] = [];
  const add = (p: string) => {
    if (!problems.includes(p)) problems.push(p);
  };
  for (const side of ["primary", "secondary"] as const) {
    const ours = qemuDefinitions(plumbing[side]).ids;
    const same = (a: QemuId, b: QemuId) => a.kind === b.kind && a.id === b.id;
    for (const theirs of plain.qemuIds.filter((t) => ours.some((o) => same(o, t)))) {
      add(
        `${theirs.option} with id '${theirs.id}' in <qemu:commandline>: the ${side}'s COLO ` +
          `plumbing defines ${/^[aeiou]/.test(theirs.kind) ? "an" : "a"} ${theirs.kind} ` +
          `'${theirs.id}' too, and QEMU refuses to start with ` +
          `two ${theirs.kind}s of one id; rename it`,
      );
    }
    for (const o of ours.filter((o) => o.kind === "object")) {
      const n = /^iothread([1-9][0-9]*)$/.exec(o.id)?.[1];
      if (n === undefined || !hasIothread(plain.iothreads, Number(n))) continue;
      const found = plain.iothreads.ids.includes(Number(n))
        ? `<iothread id='${n}'>`
        : `<iothreads>${plain.iothreads.count}</iothreads>`;
      add(
        `${found} gives the domain IOThread ${n}, which libvirt defines as object '${o.id}', an ` +
          `id the ${side}'s COLO plumbing defines (colo-compare's IOThread): QEMU refuses to ` +
          "start with two objects of one id",
      );
    }
  }
  // pair remove tells the plumbing's drives and disk devices by this prefix (unpair.ts).
  for (const theirs of plain.qemuIds) {
    if ((theirs.kind === "block" || theirs.kind === "device") && theirs.id.startsWith("colo-")) {
      add(
        `${theirs.option} with id '${theirs.id}' in <qemu:commandline>: ids starting 'colo-' ` +
          "are the COLO plumbing's (its disks' drives and devices); rename it",
      );
    }
  }
  for (const value of plain.qemuIncoming) {
    add(
      `-incoming '${value}' in <qemu:commandline>: the primary would wait for an incoming ` +
        "migration instead of starting its guest, and the secondary would have two, its own " +
        "and the COLO plumbing's",
    );
  }
  return problems;
}

/** The host of a peer URI; undefined for this host. */
function hostOf(uri: string, side: string, problems: string[]): string | undefined {
  try {
    const host = parsePeerUri(uri).host;
    return host === undefined || isLoopback(host) || host === "localhost" ? undefined : host;
  } catch (e) {
    if (!(e instanceof PeerUriError)) throw e;
    problems.push(`the ${side}'s URI: ${e.message}`);
    return undefined;
  }
}

/**
 * Why the secondary's host cannot take the secondary, or undefined: a COLO secondary holds its
 * guest's memory twice, the running copy and the cache each checkpoint is loaded into.
 */
export function secondaryMemoryProblem(
  guestBytes: number | undefined,
  freeBytes: number,
  host: string,
): string | undefined {
  if (guestBytes === undefined || freeBytes >= 2 * guestBytes) return undefined;
  const mib = (b: number) => Math.floor(b / 2 ** 20);
  return (
    `${host} has ${mib(freeBytes)} MiB of memory free, and a COLO secondary of this ` +
    `${mib(guestBytes)} MiB guest needs about ${mib(2 * guestBytes)} MiB (its memory, and the copy each checkpoint is loaded into)`
  );
}

/** Each NIC's ports: the first NIC's are the pair's own fields. */
function nicPorts(ports: PairPorts): NicPorts[] {
  return [ports, ...(ports.moreNics ?? [])];
}

/** The ports from a base port, for `nics` NICs: in `--ports` order, NBD's kept free without disks. */
function defaultPorts(base: number, nics: number): PairPorts {
  const nic = (first: number) =>
    Object.fromEntries(NIC_PORT_NAMES.map((n, i) => [n, first + i])) as unknown as NicPorts;
  const more = Array.from({ length: nics - 1 }, (_, k) =>
    nic(base + MORE_NICS_PORT_OFFSET + NIC_PORT_NAMES.length * k),
  );
  return {
    ...nic(base),
    migration: base + PORT_NAMES.length - 1,
    ...(more.length > 0 && { moreNics: more }),
  };
}

function portProblems(ports: PairPorts): string[] {
  const problems: string[] = [];
  const users = new Map<number, string[]>();
  // NIC 0's ports by their own names, as --ports lists them first; NIC k's as "nick.mirror".
  const named: [string, number][] = [
    ...PORT_NAMES.map((n): [string, number] => [n, ports[n]]),
    ...(ports.nbd === undefined ? [] : [["nbd", ports.nbd] as [string, number]]),
    ...nicPorts(ports)
      .slice(1)
      .flatMap((p, k) => NIC_PORT_NAMES.map((n): [string, number] => [`nic${k + 1}.${n}`, p[n]])),
  ];
  for (const [name, port] of named) {
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

const chardev = (id: string, host: string, port: number, ...options: string[]) => [
  "-chardev",
  ["socket", `id=${id}`, `host=${host}`, `port=${port}`, ...options].join(","),
];
const object = (...fields: string[]) => ["-object", fields.join(",")];

/** The filter options for the NIC: its netdev, and whether its packets carry a vnet header. */
function onNic(nic: NicPlumbing): string[] {
  return [`netdev=${nic.netdev}`, ...(nic.vnetHdr ? ["vnet_hdr_support=on"] : [])];
}

function secondaryArgs(
  nics: readonly NicPlumbing[],
  address: string,
  incoming: string,
  p: PairPorts,
  version: QemuVersion,
): string[] {
  // The secondary starts first and keeps trying until the primary's servers are up.
  const reconnect = reconnectOption(version);
  const listen = isIP(incoming) === 6 ? `[${incoming}]` : incoming;
  const ports = nicPorts(p);
  return [
    ...nics.flatMap((nic, n) => {
      const port = ports[n];
      if (port === undefined) return []; // a port problem already
      const c = nicIds(n).secondaryChardevs;
      const o = nicIds(n).secondaryObjects;
      return [
        ...chardev(c.mirror, address, port.mirror, reconnect),
        ...chardev(c.compare, address, port.compare, reconnect),
        ...object(
          "filter-redirector",
          `id=${o.redirectorTx}`,
          ...onNic(nic),
          "queue=tx",
          `indev=${c.mirror}`,
        ),
        ...object(
          "filter-redirector",
          `id=${o.redirectorRx}`,
          ...onNic(nic),
          "queue=rx",
          `outdev=${c.compare}`,
        ),
        ...object("filter-rewriter", `id=${o.rewriter}`, ...onNic(nic), "queue=all"),
      ];
    }),
    "-incoming",
    `tcp:${listen}:${p.migration}`,
  ];
}
