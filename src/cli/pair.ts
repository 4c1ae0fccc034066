// `colo-hybrid pair create`: a plain, shut-off domain becomes a COLO primary, and its secondary
// is defined beside it or on another host. `colo-hybrid pair remove` undoes it.
import { chown } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type DomainRef, type Libvirt, XML_SECURE_INACTIVE } from "../libvirt/api.js";
import { connectLibvirt } from "../libvirt/connect.js";
import { ErrorCode, findDomain, LibvirtError } from "../libvirt/errors.js";
import {
  deleteImages,
  diskSizes,
  type ImagesToMake,
  imagesToMake,
  poolName,
} from "../libvirt/images.js";
import { towardPeer } from "../libvirt/local-address.js";
import { connectPeer, replicationHost } from "../libvirt/peer.js";
import { parsePeerUri, peerUriProblem } from "../libvirt/peer-uri.js";
import { qemuOwner } from "../libvirt/xml/capabilities.js";
import { parseDomainXml, readDomainConfig } from "../libvirt/xml/domain.js";
import { parseXml, XmlError } from "../libvirt/xml/tree.js";
import { DEFAULT_IMAGE_DIR } from "../pair/disks.js";
import {
  DEFAULT_ADDRESS,
  DEFAULT_BASE_PORT,
  DEFAULT_PRIMARY_URI,
  DEFAULT_QEMU_VERSION,
  MORE_NICS_PORT_OFFSET,
  NIC_PORT_NAMES,
  PairError,
  type PairPlan,
  type PairPorts,
  PORT_NAMES,
  planPair,
  type QemuVersion,
  secondaryMemoryProblem,
} from "../pair/plumbing.js";
import { planUnpair, secondaryProblem, UnpairError, type UnpairPlan } from "../pair/unpair.js";
import { CliError } from "./errors.js";
import { PARAM_OPTIONS, paramOptionsHelp, paramPatch } from "./param-options.js";

const DEFAULT_CONNECT = "qemu:///system";
const { major, minor } = DEFAULT_QEMU_VERSION;

const CREATE_HELP = `usage: colo-hybrid pair create DOMAIN --secondary-uri URI [options]

Makes the shut-off domain DOMAIN a COLO primary: redefines it with COLO's network plumbing
(chardevs and filters in <qemu:commandline>) and colo-hybrid's metadata, and defines its
secondary (a new domain) on the secondary's host. DOMAIN needs one or more NICs, each
<interface type='bridge'>, type='network' or type='user'; vhost-net is turned off on a virtio
tap NIC (pair remove turns it back). Its virtio-blk, virtio-scsi and SATA disks (raw or qcow2
files) are replicated: each moves into <qemu:commandline> under a quorum, and the secondary
gets three empty images of its size (base, hidden, active), which protect fills from the
primary's disk over NBD.
CD-ROMs are left as they are. Nothing is started: start the secondary first, paused, then the
primary (it waits for the secondary to connect).

Both URIs are kept in the metadata: qemu:///system, qemu+ssh://[user@]host[:port]/system or
qemu+tls://host[:port]/system, with no parameters; keys, known hosts and certificates for a host
go in /etc/colo-hybrid/hosts.conf.

  --secondary-uri URI      libvirt URI of the secondary's host, as this host reaches it
  --primary-uri URI        libvirt URI of this host, as the secondary's host reaches it
                           (default ${DEFAULT_PRIMARY_URI} on one host; across hosts, one of the
                           secondary URI's kind at this host's address toward it)
  --secondary-name NAME    (default DOMAIN-secondary)
  --address ADDR           this host's address, where the secondary connects to the primary
                           (default ${DEFAULT_ADDRESS} on one host; across hosts, the source
                           address of this host's route to the secondary's)
  --incoming-address ADDR  where the secondary listens for the replication stream (default
                           127.0.0.1 on one host; across hosts, the address the primary sends
                           it to: the secondary's host, or its address in hosts.conf)
  --base-port P            the five TCP ports are P..P+4 (default ${DEFAULT_BASE_PORT}); with
                           disks a sixth, P+5, for NBD; each NIC after the first four more
                           from P+6 (the second NIC P+6..P+9, the third P+10..P+13, ...)
  --ports A,B,C,D,M[,N[,A1,B1,C1,D1...]]
                           or each: mirror, compare, compare-in, compare-out, migration, the
                           secondary's NBD server (used with disks only), and the first four
                           again for each NIC after the first
  --image-dir DIR          where the secondary's disk images go on its host, in a libvirt
                           storage pool (default ${DEFAULT_IMAGE_DIR})
  --qemu-version X.Y       QEMU on the secondary's host (default ${major}.${minor}); from 9.2
                           its chardevs reconnect with reconnect-ms
  --dry-run                print both domains' XML (secure parts included, as virsh edit
                           shows them) and define nothing
  -c, --connect URI        libvirt URI of DOMAIN's host (default ${DEFAULT_CONNECT})
policy parameters stored in both domains' metadata (see 'colo-hybrid params'):
${paramOptionsHelp()}
`;

const REMOVE_HELP = `usage: colo-hybrid pair remove DOMAIN [options]

Undoes pair create: undefines the secondary that DOMAIN's metadata names, on its host, and
redefines DOMAIN as it was before, without COLO's plumbing and colo-hybrid's metadata (its own
<qemu:commandline> arguments and other metadata stay). Both domains must be shut off; nothing is
changed until everything has been checked. A secondary that is gone already is said so, and
DOMAIN is still made plain.

  --plain NAME             DOMAIN is a primary made as a new domain from the plain domain
                           NAME, which is still there: undefine DOMAIN instead of making it
                           plain (neither its metadata nor its XML names NAME)
  --dry-run                say what would be undefined and print the XML DOMAIN would be
                           defined with (secure parts included), and change nothing
  -c, --connect URI        libvirt URI of DOMAIN's host (default ${DEFAULT_CONNECT})
`;

export const PAIR_HELP = `${CREATE_HELP}\n${REMOVE_HELP}`;

export async function pair(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === "create") return create(rest, out, err);
  if (sub === "remove") return remove(rest, out);
  throw new CliError(
    `unknown pair command ${JSON.stringify(sub ?? "")}; see 'colo-hybrid help pair'`,
  );
}

async function create(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...PARAM_OPTIONS,
      "secondary-uri": { type: "string" },
      "primary-uri": { type: "string" },
      "secondary-name": { type: "string" },
      address: { type: "string" },
      "incoming-address": { type: "string" },
      "base-port": { type: "string" },
      ports: { type: "string" },
      "image-dir": { type: "string" },
      "qemu-version": { type: "string" },
      "dry-run": { type: "boolean" },
      connect: { type: "string", short: "c" },
    },
  });
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new CliError("pair create takes one DOMAIN");
  const secondaryUri = values["secondary-uri"];
  if (secondaryUri === undefined) throw new CliError("pair create needs --secondary-uri URI");
  const connectUri = values.connect ?? DEFAULT_CONNECT;
  const toward = await towardPeer(secondaryUri);
  const address = values.address ?? toward?.address;
  const primaryUri = values["primary-uri"] ?? toward?.primaryUri;
  if (toward !== undefined && (values.address === undefined || values["primary-uri"] === undefined))
    err.write(
      `note: the secondary's host reaches this one at ${address} and its agent by ${primaryUri}, as this host's route to it says (--address, --primary-uri)\n`,
    );
  const choices = {
    secondaryUri,
    ...optional("primaryUri", primaryUri),
    ...optional("secondaryName", values["secondary-name"]),
    ...optional("address", address),
    ...optional("incomingAddress", values["incoming-address"]),
    ...optional("basePort", number("--base-port", values["base-port"])),
    ...optional("ports", ports(values.ports)),
    ...optional("imageDir", imageDir(values["image-dir"])),
    ...optional("qemuVersion", qemuVersion(values["qemu-version"])),
    // A URI off the allow-list is planPair's to report, with every other problem.
    ...optional(
      "replicationHost",
      peerUriProblem(secondaryUri) === undefined ? replicationHost(secondaryUri) : undefined,
    ),
    params: paramPatch(values),
  };

  await withConnections(async (open) => {
    const lv = await open(connectLibvirt(connectUri));
    const dom = await domainNamed(lv, name);
    const xml = await lv.domainXml(dom, XML_SECURE_INACTIVE);
    const { state } = await lv.domainState(dom);
    const plain = readDomainConfig(parseXml(xml));

    const problems: string[] = [];
    if (state !== "shutoff") {
      problems.push(
        `it is ${state}: pair create redefines it, so it must be shut off first (virsh shutdown ${name})`,
      );
    }
    let plan: PairPlan | undefined;
    try {
      plan = planPair(xml, choices);
    } catch (e) {
      if (!(e instanceof PairError)) throw e;
      problems.push(...e.problems);
    }
    let secondaryLv = lv;
    let images: ImagesToMake | undefined;
    if (plan !== undefined) {
      // The URI is the one the metadata keeps, hence checked by planPair.
      secondaryLv = await peer(lv, secondaryUri, open);
      if ((await findDomain(secondaryLv, plan.secondary.name)) !== undefined) {
        problems.push(`a domain named '${plan.secondary.name}' exists already on ${secondaryUri}`);
      }
      const memory = secondaryMemoryProblem(
        plain.memoryBytes,
        await secondaryLv.freeMemory(),
        secondaryUri,
      );
      if (memory !== undefined) problems.push(memory);
      if (plan.images.length > 0) {
        images = await imagesToMake(
          { lv: secondaryLv, uri: secondaryUri },
          plan.images,
          await diskSizes(lv, dom, plan.diskTargets),
          { name: poolName(plan.imageDir, DEFAULT_IMAGE_DIR), dir: plan.imageDir },
          plain.type,
        );
        problems.push(...images.problems);
        const remote = await remoteImagesWarning(lv, connectUri, plan.primaryImages, plain.type);
        if (remote !== undefined) plan.warnings.push(remote);
      }
    }
    if (plan === undefined || problems.length > 0) {
      throw new CliError(new PairError(name, problems).message);
    }

    for (const w of plan.warnings) err.write(`warning: ${w}\n`);
    if (values["dry-run"]) {
      out.write(`==> primary '${plan.primary.name}' on ${connectUri} <==\n${plan.primary.xml}\n`);
      out.write(
        `==> secondary '${plan.secondary.name}' on ${secondaryUri} <==\n${plan.secondary.xml}`,
      );
      return;
    }
    let undoImages = async (): Promise<void> => {};
    if (images !== undefined) {
      try {
        undoImages = await images.make();
      } catch (e) {
        throw new CliError(
          `making the secondary's images on ${secondaryUri} failed: ${(e as Error).message}; nothing else was changed`,
        );
      }
      out.write(`Images of '${plan.secondary.name}' made in ${plan.imageDir} on ${secondaryUri}\n`);
      if (isLocal(connectUri)) {
        await ownPrimaryImages(lv, plan.primaryImages, plain.type);
      }
    }
    try {
      await lv.defineXml(plan.primary.xml);
    } catch (e) {
      await undoImages();
      throw new CliError(
        `defining '${plan.primary.name}' on ${connectUri} failed: ${(e as Error).message}; nothing was changed`,
      );
    }
    try {
      await secondaryLv.defineXml(plan.secondary.xml);
    } catch (e) {
      // Leave nothing half done: the plain domain gets its own configuration back.
      const why = (e as Error).message;
      await undoImages();
      try {
        await lv.defineXml(xml);
      } catch (back) {
        throw new CliError(
          `defining '${plan.secondary.name}' on ${secondaryUri} failed: ${why}; putting '${name}' back as it was failed too: ${(back as Error).message}`,
        );
      }
      throw new CliError(
        `defining '${plan.secondary.name}' on ${secondaryUri} failed: ${why}; '${name}' is as it was`,
      );
    }
    out.write(
      `Domain '${plan.primary.name}' defined as the COLO primary on ${connectUri}\n` +
        `Domain '${plan.secondary.name}' defined as the COLO secondary on ${secondaryUri}\n`,
    );
  });
}

async function remove(args: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      plain: { type: "string" },
      "dry-run": { type: "boolean" },
      connect: { type: "string", short: "c" },
    },
  });
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new CliError("pair remove takes one DOMAIN");
  const connectUri = values.connect ?? DEFAULT_CONNECT;
  const plainName = values.plain;

  await withConnections(async (open) => {
    const lv = await open(connectLibvirt(connectUri));
    const dom = await domainNamed(lv, name);
    const problems: string[] = [];
    const stopFirst = (state: string, uri: string, n: string) =>
      `is ${state}: stop the pair first: virsh${uri === DEFAULT_CONNECT ? "" : ` -c ${uri}`} destroy ${n}`;
    const { state } = await lv.domainState(dom);
    if (state !== "shutoff") problems.push(`it ${stopFirst(state, connectUri, name)}`);
    let plan: UnpairPlan | undefined;
    try {
      plan = planUnpair(await lv.domainXml(dom, XML_SECURE_INACTIVE), connectUri);
    } catch (e) {
      if (!(e instanceof UnpairError)) throw e;
      problems.push(...e.problems);
    }
    if (plan === undefined) throw new CliError(new UnpairError(name, connectUri, problems).message);
    const plainXml = plan.plainXml;
    const { uri: secondaryUri, domain: secondaryName } = plan.secondary;
    if (plainName === name) {
      problems.push(`--plain names '${name}' itself: give the domain pair create made it from`);
    } else if (plainName !== undefined && (await findDomain(lv, plainName)) === undefined) {
      problems.push(
        `'${plainName}' (--plain) is not on ${connectUri}: undefining '${name}' would leave neither; without --plain, '${name}' is made plain itself`,
      );
    }
    // The metadata's URI was checked when it was read; reached the agents' way.
    const secondaryLv = await peer(lv, secondaryUri, open);
    const secondaryDom = await findDomain(secondaryLv, secondaryName);
    // Its XML is kept to define it again should the primary's change fail.
    const secondary = secondaryDom && {
      dom: secondaryDom,
      xml: await secondaryLv.domainXml(secondaryDom, XML_SECURE_INACTIVE),
    };
    if (secondary !== undefined) {
      const wrong = secondaryProblem(plan, secondary.xml);
      if (wrong !== undefined) problems.push(wrong);
      const s = (await secondaryLv.domainState(secondary.dom)).state;
      if (s !== "shutoff") {
        problems.push(
          `'${secondaryName}' on ${secondaryUri} ${stopFirst(s, secondaryUri, secondaryName)}`,
        );
      }
    }
    if (problems.length > 0) {
      throw new CliError(new UnpairError(name, connectUri, problems).message);
    }

    const primary =
      plainName === undefined
        ? {
            what: `defining '${name}' without COLO on ${connectUri}`,
            run: async () => void (await lv.defineXml(plainXml)),
            done: `Domain '${name}' defined without COLO on ${connectUri}`,
          }
        : {
            what: `undefining '${name}' on ${connectUri}`,
            run: () => lv.undefine(dom),
            done: `Domain '${name}' (the COLO primary) undefined on ${connectUri}; '${plainName}' stays`,
          };
    if (secondary === undefined) {
      out.write(
        `Domain '${secondaryName}' is not on ${secondaryUri}: the secondary is gone already\n`,
      );
    }
    // The secondary's disk images (base, hidden, active), deleted last: that cannot be undone.
    const images =
      secondary === undefined ? [] : (parseDomainXml(secondary.xml).colo?.images ?? []);
    if (values["dry-run"]) {
      if (secondary !== undefined) {
        out.write(`would undefine '${secondaryName}' (the COLO secondary) on ${secondaryUri}\n`);
        if (images.length > 0)
          out.write(`would delete its images on ${secondaryUri}: ${images.join(", ")}\n`);
      }
      out.write(
        plainName === undefined
          ? `==> plain '${name}' on ${connectUri} <==\n${plainXml}`
          : `would undefine '${name}' (the COLO primary) on ${connectUri}; '${plainName}' stays\n`,
      );
      return;
    }
    // The secondary first: should the primary's change fail, the secondary is defined again from
    // its XML, and the pair is as it was.
    if (secondary !== undefined) {
      try {
        await secondaryLv.undefine(secondary.dom);
      } catch (e) {
        throw new CliError(
          `undefining '${secondaryName}' on ${secondaryUri} failed: ${(e as Error).message}; nothing was changed`,
        );
      }
      out.write(`Domain '${secondaryName}' (the COLO secondary) undefined on ${secondaryUri}\n`);
    }
    try {
      await primary.run();
    } catch (e) {
      const why = `${primary.what} failed: ${(e as Error).message}`;
      if (secondary === undefined) throw new CliError(`${why}; nothing was changed`);
      try {
        await secondaryLv.defineXml(secondary.xml);
      } catch (back) {
        throw new CliError(
          `${why}; '${secondaryName}' was undefined on ${secondaryUri}, and defining it again failed: ${(back as Error).message}`,
        );
      }
      throw new CliError(
        `${why}; '${secondaryName}' is defined again on ${secondaryUri}, as it was`,
      );
    }
    out.write(`${primary.done}\n`);
    if (images.length > 0) {
      try {
        const missing = await deleteImages(secondaryLv, images);
        const gone = images.filter((i) => !missing.includes(i));
        if (gone.length > 0)
          out.write(
            `Images of '${secondaryName}' deleted on ${secondaryUri}: ${gone.join(", ")}\n`,
          );
        if (missing.length > 0)
          out.write(
            `Not in any storage pool on ${secondaryUri}, left alone: ${missing.join(", ")}\n`,
          );
      } catch (e) {
        throw new CliError(
          `deleting the images of '${secondaryName}' on ${secondaryUri} failed: ${(e as Error).message}; the pair is removed, and ${images.join(", ")} may be left`,
        );
      }
    }
  });
}

/**
 * Runs a command with the connections it opens, all closed after; libvirt's and XML errors are
 * the command's errors.
 */
async function withConnections(
  command: (open: (connecting: Promise<Libvirt>) => Promise<Libvirt>) => Promise<void>,
): Promise<void> {
  const opened: Libvirt[] = [];
  try {
    await command(async (connecting) => {
      const lv = await connecting;
      opened.push(lv);
      return lv;
    });
  } catch (e) {
    if (e instanceof LibvirtError || e instanceof XmlError) throw new CliError(e.message);
    throw e;
  } finally {
    await Promise.allSettled(opened.map((lv) => lv.close()));
  }
}

/** The pair's other host, reached the agents' way (connectPeer); this connection for this host. */
function peer(
  lv: Libvirt,
  uri: string,
  open: (connecting: Promise<Libvirt>) => Promise<Libvirt>,
): Promise<Libvirt> {
  return uri === lv.uri ? Promise.resolve(lv) : open(connectPeer(uri));
}

/** The domain the command names, as virsh reports one that is not there. */
export async function domainNamed(lv: Libvirt, name: string): Promise<DomainRef> {
  try {
    return await lv.lookupByName(name);
  } catch (e) {
    if (e instanceof LibvirtError && e.code === ErrorCode.noDomain) {
      throw new CliError(`failed to get domain '${name}': ${e.message}`);
    }
    throw e;
  }
}

/**
 * libvirt labels only the files of <disk> elements: once a disk is in <qemu:commandline>, its
 * image must be QEMU's user's already. This command changes that on its own host only; on
 * another host it is for the admin to do.
 */
async function remoteImagesWarning(
  lv: Libvirt,
  uri: string,
  paths: readonly string[],
  type: string,
): Promise<string | undefined> {
  if (paths.length === 0 || isLocal(uri)) return undefined;
  const owner = qemuOwner(await lv.capabilities(), type);
  const who = owner === undefined ? "QEMU's user" : `${owner.uid}:${owner.gid}`;
  return `libvirt no longer labels the replicated disks' images on ${uri}: make them QEMU's there (chown ${who} ${paths.join(" ")})`;
}

async function ownPrimaryImages(
  lv: Libvirt,
  paths: readonly string[],
  type: string,
): Promise<void> {
  if (paths.length === 0) return;
  const owner = qemuOwner(await lv.capabilities(), type);
  if (owner === undefined) throw new CliError("cannot tell which user QEMU runs as on this host");
  for (const path of paths) await chown(path, owner.uid, owner.gid);
}

function isLocal(uri: string): boolean {
  return parsePeerUri(uri).host === undefined;
}

/** { key: value }, or nothing for an option not given (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]: V });
}

function number(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new CliError(`${option} takes a port number, not '${text}'`);
  return Number(text);
}

/**
 * `--ports A,B,C,D,M[,N[,A1,B1,C1,D1,...]]`: the base port's layout, spelt out. The sixth, N, is
 * the NBD port (used with disks only), so that each further NIC's four come after it.
 */
function ports(text: string | undefined): PairPorts | undefined {
  if (text === undefined) return undefined;
  const list = text.split(",");
  const names = [...PORT_NAMES, "nbd"] as const;
  const more = list.length - MORE_NICS_PORT_OFFSET;
  if (
    list.length < PORT_NAMES.length ||
    (more > 0 && more % NIC_PORT_NAMES.length !== 0) ||
    list.some((p) => !/^\d+$/.test(p))
  ) {
    throw new CliError(
      `--ports takes five port numbers A,B,C,D,M (mirror, compare, compare-in, compare-out, migration), a sixth N (NBD) for a domain with disks, and four more (A,B,C,D) for each further NIC after the sixth, not '${text}'`,
    );
  }
  const numbers = list.map(Number);
  const named = <K extends string>(keys: readonly K[], at: number) =>
    Object.fromEntries(keys.map((k, i) => [k, numbers[at + i]])) as Record<K, number>;
  const first: PairPorts = named(names.slice(0, list.length), 0);
  const moreNics = Array.from({ length: Math.max(0, more) / NIC_PORT_NAMES.length }, (_, k) =>
    named(NIC_PORT_NAMES, MORE_NICS_PORT_OFFSET + NIC_PORT_NAMES.length * k),
  );
  return moreNics.length > 0 ? { ...first, moreNics } : first;
}

export function imageDir(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!text.startsWith("/"))
    throw new CliError(`--image-dir takes an absolute path, not '${text}'`);
  return text.length > 1 ? text.replace(/\/+$/, "") : text;
}

export function qemuVersion(text: string | undefined): QemuVersion | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\.(\d+)(\.\d+)?$/.exec(text);
  if (!m) throw new CliError(`--qemu-version takes a version X.Y (e.g. 7.2), not '${text}'`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}
