// The pairs in the lab cluster's configuration (test/fixtures/cluster/cib-resources.xml, from
// `cibadmin -Q --scope resources` on Pacemaker 2.1.5): either side's name finds its resource.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { coloResourceOf, parseColoResources } from "../../src/cluster/cib.js";

const CIB = readFileSync("test/fixtures/cluster/cib-resources.xml", "utf8");
const DOMAIN = "colo-hybrid-test-hosts-92c0ff";
const PAIR = {
  id: `colo-${DOMAIN}`,
  clone: `colo-${DOMAIN}-clone`,
  domain: DOMAIN,
  secondary: `${DOMAIN}-secondary`,
};

describe("the colo-hybrid resources of the CIB", () => {
  it("reads the pair's primitive and clone, not the fence device", () => {
    expect(parseColoResources(CIB)).toEqual([PAIR]);
  });

  it("finds the resource by either side's domain, and nothing for another", () => {
    const resources = parseColoResources(CIB);
    expect(coloResourceOf(resources, DOMAIN)).toEqual(PAIR);
    expect(coloResourceOf(resources, `${DOMAIN}-secondary`)).toEqual(PAIR);
    expect(coloResourceOf(resources, "web1")).toBeUndefined();
  });

  it("takes the secondary's name from its parameter when given", () => {
    const xml = CIB.replace(
      /(<nvpair name="domain" [^>]*\/>)/,
      '$1<nvpair name="secondary" value="web-b" id="s"/>',
    );
    const [resource] = parseColoResources(xml);
    expect(resource?.secondary).toBe("web-b");
    expect(coloResourceOf(parseColoResources(xml), "web-b")?.id).toBe(PAIR.id);
  });

  it("a primitive outside a clone has no clone; one without a domain is no pair", () => {
    const primitive = /<primitive id="colo-[\s\S]*?<\/primitive>/.exec(CIB)?.[0] ?? "";
    const alone = `<resources>${primitive}</resources>`;
    expect(parseColoResources(alone)).toEqual([{ ...PAIR, clone: undefined }]);
    const noDomain = alone.replace(/<nvpair name="domain" [^>]*\/>/, "");
    expect(parseColoResources(noDomain)).toEqual([]);
  });
});
