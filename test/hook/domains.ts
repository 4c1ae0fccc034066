// Domain XML as libvirt hands it to the hook, with or without our metadata, and the domain names
// the hook tests use: every one a shell would trip on.
import { randomUUID } from "node:crypto";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import {
  formatMetadata,
  type HybridMetadata,
  METADATA_NS,
} from "../../src/libvirt/xml/metadata.js";
import { TEST_DOMAIN_PREFIX, testDomainXml } from "../support/domains.js";
import { CommandError } from "../support/exec.js";
import { virsh } from "../support/virsh.js";

export const VALID_METADATA: HybridMetadata = {
  role: "primary",
  peer: { uri: "qemu:///system", domain: "colo-hybrid-test-peer" },
  protect: false,
  params: DEFAULT_PARAMS,
};

/** Our element in a domain's <metadata>: in our namespace, every parameter written. */
export function metadataElement(m: HybridMetadata = VALID_METADATA): string {
  return formatMetadata(m).replace("<hybrid>", `<hybrid xmlns="${METADATA_NS}">`);
}

/** Two problems: a role that does not exist, and no peer. */
export const INVALID_METADATA = `<colo:hybrid xmlns:colo="${METADATA_NS}"><colo:role>tertiary</colo:role></colo:hybrid>`;

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

/**
 * A tiny TCG domain (test/support/domains.ts) with this name and UUID, and `metadata` in it, laid
 * out as libvirt formats what it hands the hook: the UUID two spaces in, each element of
 * <metadata> on lines of its own four spaces in.
 */
export function domainXml(name: string, uuid: string, metadata?: string): string {
  const inner = metadata?.replace(/^/gm, "    ");
  const head = [
    `  <uuid>${uuid}</uuid>`,
    ...(inner === undefined ? [] : ["  <metadata>", inner, "  </metadata>"]),
  ];
  const escaped = name.replace(/[&<>]/g, (c) => ESCAPES[c] ?? c);
  return testDomainXml(escaped).replace("</name>", () => `</name>\n${head.join("\n")}`);
}

export const newUuid = (): string => randomUUID();

/** Written by a name that reaches a shell: `touch` in libvirtd's working directory, or /tmp. */
export const CANARY = "colo-hybrid-pwned";

const P = TEST_DOMAIN_PREFIX;

/** Names libvirt accepts (it refuses only "/" and newlines) that a shell would trip on. */
export const HOSTILE_NAMES: readonly string[] = [
  `${P}q'uote"s`,
  `${P}$(touch ${CANARY})`,
  `${P}\`touch ${CANARY}\``,
  `${P} sp  ace;&|<>*? \${IFS}`,
  `${P}ünïcødé 😀 名前`,
  `-${P}dash`,
  `--${P}help`,
  `${P}back\\slash\ttab`,
  `${P}%i\\x2d-`,
];

/** Names libvirt refuses, for the hook run by hand. */
export const UNDEFINABLE_NAMES: readonly string[] = [
  `${P}new\nline $(touch /tmp/${CANARY})`,
  `${P}sl/ash; touch /tmp/${CANARY}`,
];

/** Every operation and sub-operation libvirt passes its qemu hook. */
export const OPERATIONS: readonly string[] = [
  "prepare",
  "start",
  "started",
  "stopped",
  "release",
  "migrate",
  "restore",
  "reconnect",
  "attach",
];
export const SUB_OPERATIONS: readonly string[] = ["begin", "end", "-"];

/** Destroys and undefines a test domain, whichever of the two it still needs. */
export async function removeDomain(uuid: string): Promise<void> {
  for (const step of [
    ["destroy", uuid],
    ["undefine", uuid],
  ]) {
    try {
      await virsh(step);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
    }
  }
}
