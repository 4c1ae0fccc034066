// Every npm package compiled into a bundle is declared where the distributions look: in the
// spec as bundled(npm(NAME)) = VERSION of the binary package that ships it (Fedora's rule for
// bundled code), and in debian/copyright's stanza for that bundle. esbuild's metafile says what
// the bundles hold, built as the Makefile builds them.
import { readFileSync } from "node:fs";
import { type BuildOptions, build } from "esbuild";
import { describe, expect, it } from "vitest";
import { NODE_BUNDLE } from "../../scripts/bundle.js";

const PAGE_BUNDLE: BuildOptions = {
  format: "iife",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".woff2": "file", ".svg": "file" },
};

/** "name version" of each npm package whose code esbuild puts in the bundles of `entries`. */
async function bundled(entries: string[], options: BuildOptions): Promise<string[]> {
  const { metafile } = await build({
    entryPoints: entries,
    bundle: true,
    write: false,
    metafile: true,
    outdir: "out",
    logLevel: "silent",
    ...options,
  });
  if (metafile === undefined) throw new Error("esbuild returned no metafile");
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
    if (name !== undefined) names.add(name);
  }
  return [...names].sort().map((name) => {
    const manifest = readFileSync(`node_modules/${name}/package.json`, "utf8");
    return `${name} ${(JSON.parse(manifest) as { version: string }).version}`;
  });
}

const spec = readFileSync("packaging/colo-hybrid.spec.in", "utf8");
const [mainPreamble, pagePreamble] = spec.split("%package -n cockpit-colo-hybrid") as [
  string,
  string,
];
/** "name version" of the bundled() provides in a part of the spec. */
const provides = (part: string) =>
  [...part.matchAll(/^Provides: +bundled\(npm\((.+)\)\) = (\S+)$/gm)]
    .map(([, name, version]) => `${name} ${version}`)
    .sort();

const copyright = readFileSync("packaging/debian/copyright", "utf8");
const stanza = (files: string) =>
  copyright.split("\n\n").find((s) => s.startsWith(`Files: ${files}`)) ?? "";

describe("the bundled npm packages", () => {
  it("of the command, the agent and the hook are declared in colo-hybrid", async () => {
    const packages = await bundled(["src/cli/main.ts", "src/hook/main.ts"], NODE_BUNDLE);
    expect(packages.length).toBeGreaterThan(0);
    expect(provides(mainPreamble)).toEqual(packages);
    for (const p of packages) expect(stanza("dist/colo-hybrid.mjs")).toContain(p.split(" ")[0]);
  });

  it("of the Cockpit page are declared in cockpit-colo-hybrid", async () => {
    const packages = await bundled(["cockpit/src/index.tsx"], PAGE_BUNDLE);
    expect(packages.length).toBeGreaterThan(0);
    expect(provides(pagePreamble.split("%description")[0] ?? "")).toEqual(packages);
    for (const p of packages) expect(stanza("dist/cockpit/*")).toContain(p.split(" ")[0]);
  });
});
