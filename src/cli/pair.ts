// `colo-hybrid pair create`: a plain, shut-off domain becomes a COLO primary, and its secondary
// is defined beside it or on another host.
import { parseArgs } from "node:util";
import type { Libvirt } from "../libvirt/api.js";
import { connectLibvirt } from "../libvirt/connect.js";
import { ErrorCode, LibvirtError } from "../libvirt/errors.js";
import { connectPeer, replicationHost } from "../libvirt/peer.js";
import { peerUriProblem } from "../libvirt/peer-uri.js";
import { XmlError } from "../libvirt/xml/tree.js";
import {
  DEFAULT_ADDRESS,
  DEFAULT_BASE_PORT,
  DEFAULT_PRIMARY_URI,
  DEFAULT_QEMU_VERSION,
  PairError,
  type PairPlan,
  type PairPorts,
  PORT_NAMES,
  planPair,
  type QemuVersion,
} from "../pair/plumbing.js";
import { CliError } from "./errors.js";
import { PARAM_OPTIONS, paramOptionsHelp, paramPatch } from "./param-options.js";

const DEFAULT_CONNECT = "qemu:///system";
const { major, minor } = DEFAULT_QEMU_VERSION;

export const PAIR_HELP = `usage: colo-hybrid pair create DOMAIN --secondary-uri URI [options]

Makes the shut-off domain DOMAIN a COLO primary: redefines it with COLO's network plumbing
(chardevs and filters in <qemu:commandline>) and colo-hybrid's metadata, and defines its
secondary (a new domain) on the secondary's host. DOMAIN needs exactly one
<interface type='user'> and no disks. Nothing is started: start the secondary first, paused,
then the primary (it waits for the secondary to connect).

Both URIs are kept in the metadata: qemu:///system, qemu+ssh://[user@]host[:port]/system or
qemu+tls://host[:port]/system, with no parameters; keys, known hosts and certificates for a host
go in /etc/colo-hybrid/hosts.conf.

  --secondary-uri URI      libvirt URI of the secondary's host, as this host reaches it
  --primary-uri URI        libvirt URI of this host, as the secondary's host reaches it
                           (default ${DEFAULT_PRIMARY_URI})
  --secondary-name NAME    (default DOMAIN-secondary)
  --address ADDR           this host's address, where the secondary connects to the primary
                           (default ${DEFAULT_ADDRESS})
  --incoming-address ADDR  where the secondary listens for the replication stream (default
                           127.0.0.1 on one host, 0.0.0.0 across hosts)
  --base-port P            the five TCP ports are P..P+4 (default ${DEFAULT_BASE_PORT})
  --ports A,B,C,D,M        or each: mirror, compare, compare-in, compare-out, migration
  --qemu-version X.Y       QEMU on the secondary's host (default ${major}.${minor}); from 9.2
                           its chardevs reconnect with reconnect-ms
  --dry-run                print both domains' XML (secure parts included, as virsh edit
                           shows them) and define nothing
  -c, --connect URI        libvirt URI of DOMAIN's host (default ${DEFAULT_CONNECT})
policy parameters stored in both domains' metadata (see 'colo-hybrid params'):
${paramOptionsHelp()}
`;

/** virDomainXMLFlags: the persistent configuration with its secrets, as `virsh edit` reads it. */
const XML_SECURE_INACTIVE = 1 | 2;

export async function pair(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== "create") {
    throw new CliError(
      `unknown pair command ${JSON.stringify(sub ?? "")}; see 'colo-hybrid help pair'`,
    );
  }
  const { values, positionals } = parseArgs({
    args: rest,
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
  const choices = {
    secondaryUri,
    ...optional("primaryUri", values["primary-uri"]),
    ...optional("secondaryName", values["secondary-name"]),
    ...optional("address", values.address),
    ...optional("incomingAddress", values["incoming-address"]),
    ...optional("basePort", number("--base-port", values["base-port"])),
    ...optional("ports", ports(values.ports)),
    ...optional("qemuVersion", qemuVersion(values["qemu-version"])),
    // A URI off the allow-list is planPair's to report, with every other problem.
    ...optional(
      "replicationHost",
      peerUriProblem(secondaryUri) === undefined ? replicationHost(secondaryUri) : undefined,
    ),
    params: paramPatch(values),
  };

  const opened: Libvirt[] = [];
  const open = async (connecting: Promise<Libvirt>) => {
    const lv = await connecting;
    opened.push(lv);
    return lv;
  };
  try {
    const lv = await open(connectLibvirt(connectUri));
    const dom = await lv.lookupByName(name).catch((e: unknown) => {
      if (e instanceof LibvirtError && e.code === ErrorCode.noDomain) {
        throw new CliError(`failed to get domain '${name}': ${e.message}`);
      }
      throw e;
    });
    const xml = await lv.domainXml(dom, XML_SECURE_INACTIVE);
    const { state } = await lv.domainState(dom);

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
    if (plan !== undefined) {
      // The URI is the one the metadata keeps, hence checked by planPair; reached the agents' way.
      if (secondaryUri !== connectUri) secondaryLv = await open(connectPeer(secondaryUri));
      if (await exists(secondaryLv, plan.secondary.name)) {
        problems.push(`a domain named '${plan.secondary.name}' exists already on ${secondaryUri}`);
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
    await lv.defineXml(plan.primary.xml);
    try {
      await secondaryLv.defineXml(plan.secondary.xml);
    } catch (e) {
      // Leave nothing half done: the plain domain gets its own configuration back.
      const why = (e as Error).message;
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
  } catch (e) {
    if (e instanceof LibvirtError || e instanceof XmlError) throw new CliError(e.message);
    throw e;
  } finally {
    await Promise.allSettled(opened.map((lv) => lv.close()));
  }
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

function ports(text: string | undefined): PairPorts | undefined {
  if (text === undefined) return undefined;
  const list = text.split(",");
  if (list.length !== PORT_NAMES.length || list.some((p) => !/^\d+$/.test(p))) {
    throw new CliError(
      `--ports takes five port numbers A,B,C,D,M (mirror, compare, compare-in, compare-out, migration), not '${text}'`,
    );
  }
  return Object.fromEntries(PORT_NAMES.map((n, i) => [n, Number(list[i])])) as unknown as PairPorts;
}

function qemuVersion(text: string | undefined): QemuVersion | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\.(\d+)(\.\d+)?$/.exec(text);
  if (!m) throw new CliError(`--qemu-version takes a version X.Y (e.g. 7.2), not '${text}'`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

async function exists(lv: Libvirt, name: string): Promise<boolean> {
  try {
    await lv.lookupByName(name);
    return true;
  } catch (e) {
    if (e instanceof LibvirtError && e.code === ErrorCode.noDomain) return false;
    throw e;
  }
}
