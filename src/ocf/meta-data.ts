// ocf:colo-hybrid:colo's parameters, checked (a bad one is OCF_ERR_CONFIGURED with the reason),
// and its meta-data, the XML Pacemaker, crmsh and pcs read (OCF 1.1, promotable; it validates
// against resource-agents' ra-api-1.dtd, as ocf-tester checks).

import { IDLE_PRIMARY_SCORE, IN_SYNC_SCORE, PROMOTED_SCORE } from "./decide.js";

/** The parameters as Pacemaker passes them: OCF_RESKEY_<name> in the environment. */
export interface OcfParams {
  /** The pair's primary, as `colo-hybrid pair create` was given it. */
  domain: string;
  /** The secondary's name: DOMAIN-secondary unless pair create was told another. */
  secondary: string;
}

/** libvirt takes almost any name; these would be a path or an option on some node. */
function nameProblem(what: string, name: string): string | undefined {
  if (name === "") return `${what} is empty`;
  const control = [...name].some((c) => c.charCodeAt(0) < 0x20);
  if (name.includes("/") || control || name.startsWith("-"))
    return `${what} '${name}' is not a libvirt domain name (no '/', control characters or leading '-')`;
  return undefined;
}

export function readParams(
  env: NodeJS.ProcessEnv,
): { ok: true; params: OcfParams } | { ok: false; reason: string } {
  const domain = env.OCF_RESKEY_domain;
  if (domain === undefined) return { ok: false, reason: "the parameter 'domain' is required" };
  const secondary = env.OCF_RESKEY_secondary ?? `${domain}-secondary`;
  const problem =
    nameProblem("domain", domain) ??
    nameProblem("secondary", secondary) ??
    (secondary === domain ? `secondary and domain are both '${domain}'` : undefined);
  return problem === undefined
    ? { ok: true, params: { domain, secondary } }
    : { ok: false, reason: problem };
}

export const META_DATA = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="colo" version="1.0">
  <version>1.1</version>
  <longdesc lang="en">
A COLO pair of libvirt domains made by 'colo-hybrid pair create', as a promotable clone of two
instances, one on each side's node. Promoted is the side that runs the guest for clients: the
primary, or the secondary once it has taken over. Unpromoted is a side whose QEMU runs without
serving: a secondary (in COLO it can take over: its promote is its failover, which Pacemaker
asks for only once it has fenced the primary's node), or a primary whose guest is paused.
monitor reads the side's state from QEMU through this node's libvirtd (qemu:///system) and sets
promotion scores: ${PROMOTED_SCORE} where the guest runs, ${IN_SYNC_SCORE} on a secondary with a checkpoint, ${IDLE_PRIMARY_SCORE} on a
paused primary, none on a side whose peer was promoted after it (its disk is stale; the node
attribute colo-hybrid-epoch-DOMAIN says when each side last was). start starts the side's QEMU
with its guest paused, and makes a stale side the new secondary of the side that ran on; stop
ends it; demote pauses a side that serves alone, and ends one in COLO. After the peer's instance
started, the side that runs alone is protected again (notify: its agent copies the disks to the
new secondary and starts COLO while the guest runs). COLO itself is first started by
'colo-hybrid protect'.
  </longdesc>
  <shortdesc lang="en">A COLO pair of libvirt domains (colo-hybrid)</shortdesc>
  <parameters>
    <parameter name="domain" unique="1" required="1">
      <longdesc lang="en">The pair's primary domain, as 'colo-hybrid pair create' was given it.</longdesc>
      <shortdesc lang="en">Primary domain name</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="secondary">
      <longdesc lang="en">The pair's secondary domain on the other node; DOMAIN-secondary (pair create's name for it) when not given.</longdesc>
      <shortdesc lang="en">Secondary domain name</shortdesc>
      <content type="string"/>
    </parameter>
  </parameters>
  <actions>
    <action name="start" timeout="60s"/>
    <action name="stop" timeout="60s"/>
    <action name="promote" timeout="60s"/>
    <action name="demote" timeout="60s"/>
    <action name="notify" timeout="20s"/>
    <action name="monitor" depth="0" timeout="20s" interval="2s" role="Promoted"/>
    <action name="monitor" depth="0" timeout="20s" interval="3s" role="Unpromoted"/>
    <action name="validate-all" timeout="20s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
`;
