// The peer URI allow-list: what domain XML may name as a pair's peer (src/libvirt/peer-uri.ts),
// checked where the metadata is read (the hook at prepare, the agent, pair create).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../../src/colo/params.js";
import { parsePeerUri, peerUriProblem } from "../../src/libvirt/peer-uri.js";
import { parseLibvirtUri } from "../../src/libvirt/uri.js";
import { formatMetadata, METADATA_NS, parseMetadata } from "../../src/libvirt/xml/metadata.js";
import { HOSTILE_PEER_URIS } from "../support/hostile-uris.js";

const VALID: readonly [string, object][] = [
  ["qemu:///system", { transport: "local", host: undefined }],
  ["qemu+ssh://host2/system", { transport: "ssh", user: undefined, host: "host2" }],
  ["qemu+ssh://root@host2.example.org:2222/system", { user: "root", port: 2222 }],
  ["qemu+ssh://colo_1.x-y@10.0.0.2/system", { user: "colo_1.x-y", host: "10.0.0.2" }],
  ["qemu+tls://host2/system", { transport: "tls", host: "host2", port: undefined }],
  ["qemu+tls://[fd00::2]:16514/system", { host: "fd00::2", port: 16514 }],
  ["qemu+tls://Host2.Example.ORG/system", { host: "Host2.Example.ORG" }],
];

describe("peer URIs", () => {
  it.each(VALID)("allows %s", (uri, fields) => {
    expect(peerUriProblem(uri)).toBeUndefined();
    expect(parsePeerUri(uri)).toMatchObject({ uri, ...fields });
  });

  it.each(HOSTILE_PEER_URIS)("refuses %j, saying what is allowed", (uri) => {
    const problem = peerUriProblem(uri);
    expect(problem).toMatch(/^uri=".*" is not allowed \(.+\): qemu:\/\/\/system, qemu\+ssh:/s);
    expect(() => parsePeerUri(uri)).toThrow(problem as string);
  });

  it("quotes only a short excerpt of a long URI", () => {
    const problem = peerUriProblem(`qemu+ssh://host2/system?${"a".repeat(100_000)}`) as string;
    expect(problem.length).toBeLessThan(400);
  });

  it("is the one check the metadata reader applies", () => {
    for (const uri of [...HOSTILE_PEER_URIS, ...VALID.map(([u]) => u)]) {
      const esc = uri.replaceAll("&", "&amp;").replaceAll("\n", "&#10;");
      const r = parseMetadata(
        `<hybrid xmlns="${METADATA_NS}"><role>primary</role><peer uri="${esc}" domain="d"/></hybrid>`,
      );
      expect(r.ok, uri).toBe(peerUriProblem(uri) === undefined);
    }
  });
});

// The allow-list stated once more, apart from the implementation, and what the transport makes
// of an accepted URI: no parameter that steers it, and only these transports and path.
const LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const NAME = `${LABEL}(\\.${LABEL})*`;
const IPV4 =
  "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
const HOST = `(${NAME}|${IPV4}|\\[[0-9A-Fa-f:.]+\\])`;
const PORT = "(:[1-9][0-9]{0,4})?";
const ORACLE = new RegExp(
  `^(qemu:///system|qemu\\+ssh://([A-Za-z_][A-Za-z0-9_.-]{0,31}@)?${HOST}${PORT}/system|qemu\\+tls://${HOST}${PORT}/system)$`,
);

function neverOutside(uri: string): void {
  if (peerUriProblem(uri) !== undefined) return;
  expect(ORACLE.test(uri), uri).toBe(true);
  const parsed = parseLibvirtUri(uri);
  expect(parsed.params.size, uri).toBe(0);
  expect(["unix", "ssh", "tls"]).toContain(parsed.transport);
  expect(parsed.path).toBe("/system");
  expect(parsed.daemonUri).toBe("qemu:///system");
  expect(uri.includes("?") || uri.includes("#") || uri.includes("%")).toBe(false);
}

describe("the allow-list, fuzzed", () => {
  // URIs built like allowed ones, each part mostly valid and sometimes hostile, so that a good
  // share is accepted and the rest differs from an accepted one in a part or two.
  const part = (valid: readonly string[], hostile: readonly string[]) =>
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...valid) }, fc.constantFrom(...hostile));
  const built = fc
    .tuple(
      part(["qemu", "qemu+ssh", "qemu+tls"], ["qemu+ext", "qemu+unix", "qemu+tcp", "QEMU", "xen"]),
      part(["://"], [":///", ":/", "://-", "://[", ":// "]),
      part(["", "", "root@", "colo_1@"], ["root:pw@", "-l@", "@", "ro%6ft@", "a b@", "\n@"]),
      part(
        ["host2", "host2.example.org", "10.0.0.2", "[fd00::2]", "[::1]"],
        ["", "-host", "host_2", "999.0.0.1", "::1", "[x]", "h%32", "host2.", "h\0"],
      ),
      part(["", "", ":22", ":16514"], [":0", ":65536", ":022", ":", ":x"]),
      part(["/system"], ["/session", "", "/system/", "//system", "/System"]),
      part(
        ["", ""],
        ["?command=/tmp/evil.sh", "?no_verify=1", "?keyfile=/k&x=1", "#f", "\n", " ", "?"],
      ),
    )
    .map((parts) => parts.join(""));
  const mutated = fc
    .tuple(
      fc.constantFrom(...VALID.map(([u]) => u)),
      fc.nat(),
      fc.string({ maxLength: 4 }),
      fc.nat({ max: 3 }),
    )
    .map(([u, at, insert, cut]) => {
      const i = at % (u.length + 1);
      return u.slice(0, i) + insert + u.slice(i + cut);
    });
  const anything = fc.string({ unit: "binary", maxLength: 60 });
  const uris = fc.oneof(
    { weight: 3, arbitrary: built },
    mutated,
    anything,
    fc.constantFrom(...HOSTILE_PEER_URIS),
  );

  it("never lets a URI through that the allow-list does not name (100k URIs)", () => {
    fc.assert(fc.property(uris, neverOutside), { numRuns: 100_000 });
  });

  it("never lets one through the metadata reader either (100k documents)", () => {
    const base = {
      role: "primary" as const,
      peer: { uri: "qemu:///system", domain: "d" },
      protect: false,
      params: DEFAULT_PARAMS,
    };
    const text = formatMetadata(base);
    const attr = (s: string) =>
      s.replace(/[&<>"\n\t\r]/g, (c) => `&#${c.charCodeAt(0)};`).replace(/\p{Cc}/gu, "");
    fc.assert(
      fc.property(uris, (uri) => {
        const xml = text.replace('uri="qemu:///system"', `uri="${attr(uri)}"`);
        let r: ReturnType<typeof parseMetadata>;
        try {
          r = parseMetadata(xml);
        } catch {
          return; // not XML (a character XML cannot carry): nothing read, nothing accepted
        }
        if (!r.ok) return;
        neverOutside(r.value.peer.uri);
      }),
      { numRuns: 100_000 },
    );
  });
});
