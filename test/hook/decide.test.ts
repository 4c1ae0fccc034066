import { describe, expect, it } from "vitest";
import { CALLS, decide, shownName } from "../../src/hook/decide.js";
import { METADATA_NS } from "../../src/libvirt/xml/metadata.js";
import {
  domainXml,
  HOSTILE_NAMES,
  INVALID_METADATA,
  metadataElement,
  OPERATIONS,
  SUB_OPERATIONS,
  UNDEFINABLE_NAMES,
} from "./domains.js";

const UUID = "0e3c9a52-5e0b-4f3c-9d7e-2b1a6c4d8f00";
const OURS = domainXml("web1", UUID, metadataElement());
const INVALID = domainXml("web1", UUID, INVALID_METADATA);
const PLAIN = domainXml("web1", UUID);
const FOREIGN = domainXml("web1", UUID, `<x:app xmlns:x="urn:other"><x:a>1</x:a></x:app>`);

describe("decide", () => {
  it("acts on prepare, stopped and release, and on nothing else (starts are the front's)", () => {
    const acted: string[] = [];
    for (const op of OPERATIONS) {
      for (const sub of SUB_OPERATIONS) {
        if (decide(op, sub, OURS).action !== "none" || decide(op, sub, INVALID).action !== "none")
          acted.push(`${op} ${sub}`);
      }
    }
    expect(acted.sort()).toEqual(["prepare begin", "release end", "stopped end"].sort());
    expect([...CALLS.keys()].sort()).toEqual(acted.sort());
  });

  it("stops the agent on stopped and release", () => {
    const domain = { domain: "web1", uuid: UUID };
    expect(decide("stopped", "end", OURS)).toEqual({ action: "stop", ...domain });
    expect(decide("release", "end", OURS)).toEqual({ action: "stop", ...domain });
  });

  it("lets a domain with valid metadata start", () => {
    expect(decide("prepare", "begin", OURS)).toEqual({ action: "none" });
  });

  it("refuses to start a domain with invalid metadata, naming every problem", () => {
    const d = decide("prepare", "begin", INVALID);
    expect(d.action).toBe("refuse");
    const message = (d as { message: string }).message;
    expect(message).toContain("colo-hybrid: domain 'web1' has invalid colo-hybrid metadata");
    expect(message).toContain(METADATA_NS);
    expect(message).toMatch(/hybrid\/role: role="tertiary" is not allowed: primary or secondary/);
    expect(message).toMatch(/hybrid\/peer: missing <peer/);
    expect(message).toContain("virsh metadata DOMAIN");
  });

  it("stops the agent whatever the metadata says", () => {
    expect(decide("stopped", "end", INVALID)).toMatchObject({ action: "stop", uuid: UUID });
  });

  it("leaves domains without our metadata alone, whatever else their <metadata> holds", () => {
    for (const xml of [PLAIN, FOREIGN]) {
      for (const call of CALLS.keys()) {
        const [op = "", sub = ""] = call.split(" ");
        expect(decide(op, sub, xml)).toEqual({ action: "none" });
      }
    }
  });

  it("lets a domain start whose XML it cannot read: it cannot be told ours", () => {
    const broken = `<domain type='qemu'><name>x</name><metadata><hybrid xmlns="${METADATA_NS}">`;
    for (const call of CALLS.keys()) {
      const [op = "", sub = ""] = call.split(" ");
      expect(decide(op, sub, broken)).toEqual({ action: "none" });
      expect(decide(op, sub, "")).toEqual({ action: "none" });
    }
  });

  it("lets a domain start that only mentions our namespace", () => {
    const mention = domainXml(
      "web1",
      UUID,
      `<x:app xmlns:x="${METADATA_NS}x" a="${METADATA_NS}"/>`,
    ).replace(
      "</name>",
      `</name>\n  <description>see ${METADATA_NS} and &lt;hybrid&gt;</description>`,
    );
    expect(decide("prepare", "begin", mention)).toEqual({ action: "none" });
  });

  it("takes the domain from the XML, and shows any name quoted and escaped", () => {
    for (const name of [...HOSTILE_NAMES, ...UNDEFINABLE_NAMES]) {
      const xml = domainXml(name, UUID, INVALID_METADATA);
      expect(decide("stopped", "end", domainXml(name, UUID, metadataElement()))).toEqual({
        action: "stop",
        domain: name,
        uuid: UUID,
      });
      const { message } = decide("prepare", "begin", xml) as { message: string };
      expect(message.split("\n")[0]).toBe(
        `colo-hybrid: domain ${shownName(name)} has invalid colo-hybrid metadata (namespace ${METADATA_NS}):`,
      );
    }
    expect(shownName("web1.example-2")).toBe("'web1.example-2'");
    expect(shownName("-dash")).toBe("'-dash'");
    expect(shownName(`a'b"c\nd $(x)`)).toBe(`"a'b\\"c\\nd $(x)"`);
    expect(shownName("ü")).toBe('"ü"');
  });
});
