// What the hook's node part does for one call, from libvirt's arguments and the domain XML
// alone: no I/O, so that every case is a line of test. (Starting an agent is the shell front's.)
import { parseDomainXml } from "../libvirt/xml/domain.js";
import { METADATA_KEY, METADATA_NS } from "../libvirt/xml/metadata.js";
import { XmlError } from "../libvirt/xml/tree.js";

export type Decision =
  | { action: "none" }
  /** Fail the domain's start: libvirt shows the hook's stderr to whoever started it. */
  | { action: "refuse"; message: string }
  | { action: "stop"; domain: string; uuid: string };

type Call = "check" | "stop";

/**
 * The calls the node part acts on, as "OPERATION SUB-OPERATION"; hooks/colo-hybrid.in passes it
 * only these, for domains with our element. `release end` also follows a start that failed
 * after `prepare`.
 */
export const CALLS: ReadonlyMap<string, Call> = new Map<string, Call>([
  ["prepare begin", "check"],
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
    // XML that libvirt accepted and we cannot read: we cannot tell whether it is ours, and a
    // domain that is not ours must always start. Nothing of ours runs for it: its agent would
    // not read it either.
    return NONE;
  }
  const { name, uuid, metadata } = domain;
  if (metadata === undefined) return NONE;
  // Stopping needs no valid metadata, and an agent that runs must not outlive its domain.
  if (call === "stop") return { action: "stop", domain: name, uuid };
  if (metadata.ok) return NONE;
  const problems = metadata.errors.map((e) => `  ${e.path}: ${e.message}`).join("\n");
  return {
    action: "refuse",
    message:
      `colo-hybrid: domain ${shownName(name)} has invalid colo-hybrid metadata ` +
      `(namespace ${METADATA_NS}):\n${problems}\n` +
      `Correct it with 'virsh metadata DOMAIN ${METADATA_NS} --config --key ${METADATA_KEY} ` +
      "--edit' or remove it with '--config --remove', then start the domain again.",
  };
}
