// What the hook does for one call, from libvirt's arguments and the domain XML alone: no I/O,
// so that every case is a line of test.
import { parseDomainXml } from "../libvirt/xml/domain.js";
import { METADATA_KEY, METADATA_NS } from "../libvirt/xml/metadata.js";
import { XmlError } from "../libvirt/xml/tree.js";

export type Decision =
  | { action: "none" }
  /** Fail the domain's start: libvirt shows the hook's stderr to whoever started it. */
  | { action: "refuse"; message: string }
  | { action: "start" | "stop"; domain: string; uuid: string }
  /** The agent would start but cannot: say why, and let the domain run. */
  | { action: "skip"; domain: string; uuid: string; message: string };

type Call = "check" | "start" | "stop";

/**
 * The calls the hook acts on, as "OPERATION SUB-OPERATION"; hooks/colo-hybrid.in lets only
 * these through to node. `release end` also follows a start that failed after `prepare`.
 */
export const CALLS: ReadonlyMap<string, Call> = new Map<string, Call>([
  ["prepare begin", "check"],
  ["started begin", "start"],
  ["reconnect begin", "start"],
  ["stopped end", "stop"],
  ["release end", "stop"],
]);

const NONE: Decision = { action: "none" };

/** A domain name as messages show it: quoted, and escaped when it is not plain. */
export function shownName(name: string): string {
  return /^[\w.+-]+$/.test(name) ? `'${name}'` : JSON.stringify(name);
}

export function decide(operation: string, subOperation: string, xml: string): Decision {
  const call = CALLS.get(`${operation} ${subOperation}`);
  if (call === undefined) return NONE;
  let domain: ReturnType<typeof parseDomainXml>;
  try {
    domain = parseDomainXml(xml);
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
    // libvirt sends XML of its own making: this is a hand-made call. Still, no domain that
    // might carry our metadata starts unchecked.
    return call === "check"
      ? { action: "refuse", message: `colo-hybrid: cannot read the domain XML: ${e.message}` }
      : NONE;
  }
  const { name, uuid, metadata } = domain;
  if (metadata === undefined) return NONE;
  // Stopping needs no valid metadata, and an agent that runs must not outlive its domain.
  if (call === "stop") return { action: "stop", domain: name, uuid };
  if (metadata.ok) return call === "start" ? { action: "start", domain: name, uuid } : NONE;

  const problems = metadata.errors.map((e) => `  ${e.path}: ${e.message}`).join("\n");
  if (call === "check") {
    return {
      action: "refuse",
      message:
        `colo-hybrid: domain ${shownName(name)} has invalid colo-hybrid metadata ` +
        `(namespace ${METADATA_NS}):\n${problems}\n` +
        `Correct it with 'virsh metadata DOMAIN ${METADATA_NS} --config --key ${METADATA_KEY} ` +
        "--edit' or remove it with '--config --remove', then start the domain again.",
    };
  }
  // A running domain (started before the hook was installed, or found again by a restarted
  // libvirtd) keeps running: failing here would make libvirt kill it.
  return {
    action: "skip",
    domain: name,
    uuid,
    message: `invalid colo-hybrid metadata, its agent is not started:\n${problems}`,
  };
}
