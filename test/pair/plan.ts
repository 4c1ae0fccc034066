// What the planPair tests share: a plain domain around some devices, and the problems a plan
// refuses it for.
import { readDomainConfig } from "../../src/libvirt/xml/domain.js";
import { parseXml } from "../../src/libvirt/xml/tree.js";
import { type PairChoices, PairError, planPair } from "../../src/pair/plumbing.js";

export const UUID = "023a047a-c210-4b13-8bbc-0c95aee1b185";
export const LOCAL: PairChoices = { secondaryUri: "qemu:///system" };

/** A domain with `devices` for its <devices>. */
export const plain = (devices: string, type = "qemu", extra = "") =>
  `<domain type='${type}'${extra}><name>p</name><uuid>${UUID}</uuid><memory>65536</memory>` +
  `<devices>${devices}</devices></domain>`;

export const config = (xml: string) => readDomainConfig(parseXml(xml));

/** The problems planPair refuses `xml` for; throws when it plans it. */
export const problems = (xml: string, choices: Partial<PairChoices> = {}): readonly string[] => {
  try {
    planPair(xml, { ...LOCAL, ...choices });
  } catch (e) {
    if (e instanceof PairError) return e.problems;
    throw e;
  }
  throw new Error("planned without error");
};
