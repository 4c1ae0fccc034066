// The node bundles, built one way for the Makefile, the benchmarks and the tests: the command
// and agent (dist/colo-hybrid.mjs) and the hook's node part (dist/colo-hybrid-hook.mjs).
//
//   tsx scripts/bundle.ts ENTRY OUTFILE [--executable]
//
// An agent runs for as long as its domain, one per protected domain, so what a bundle loads at
// start-up is paid many times over. Two choices keep it small (bench/agent-footprint.ts):
// - Node's modules that only some paths need (ssh and virsh spawn processes, qemu+tls needs TLS,
//   dbus-next hashes only for cookie authentication) load on first use; each costs about 2 MB
//   once loaded.
// - No comments or indentation: a single non-ASCII character in a comment makes V8 hold the
//   whole source as UTF-16, twice its size. Names stay, so stack traces still read.
import { chmodSync } from "node:fs";
import { type BuildOptions, build, type Plugin } from "esbuild";

/** Each lazy module and the names the bundled code imports from it (a name missing fails the build). */
const LAZY: Readonly<Record<string, readonly string[]>> = {
  "node:assert": ["default"],
  "node:child_process": ["execFile", "spawn", "spawnSync"],
  "node:crypto": ["createHash", "randomBytes"],
  "node:readline": ["createInterface"],
  "node:tls": ["connect"],
};

// Each export is a function that loads the module when first called. Its promisified form is
// the module's own, so that promisify(execFile) still resolves { stdout, stderr }.
const lazyModule = (name: string, exports: readonly string[]) => `
import { createRequire } from "node:module";
import { promisify } from "node:util";
const load = () => createRequire(import.meta.url)(${JSON.stringify(name)});
const lazy = (get) => {
  const f = (...args) => get()(...args);
  f[promisify.custom] = (...args) => promisify(get())(...args);
  return f;
};
${exports
  .map((e) =>
    e === "default"
      ? "export default lazy(load);"
      : `export const ${e} = lazy(() => load()[${JSON.stringify(e)}]);`,
  )
  .join("\n")}
`;

const lazyBuiltins: Plugin = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^node:(assert|child_process|crypto|readline|tls)$/ }, (args) => ({
      path: args.path,
      namespace: "lazy-builtin",
    }));
    b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
      contents: lazyModule(args.path, LAZY[args.path] ?? []),
      loader: "js",
    }));
  },
};

export const NODE_BUNDLE: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node18",
  format: "esm",
  minifyWhitespace: true,
  plugins: [lazyBuiltins],
  logLevel: "warning",
};

/** Bundles `entry` into `outfile`; an executable one starts with node's #! line. */
export async function bundleNode(entry: string, outfile: string, executable = false) {
  await build({
    ...NODE_BUNDLE,
    entryPoints: [entry],
    outfile,
    ...(executable ? { banner: { js: "#!/usr/bin/env node" } } : {}),
  });
  if (executable) chmodSync(outfile, 0o755);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [entry, outfile, flag] = process.argv.slice(2);
  if (entry === undefined || outfile === undefined || (flag ?? "--executable") !== "--executable")
    throw new Error("usage: tsx scripts/bundle.ts ENTRY OUTFILE [--executable]");
  await bundleNode(entry, outfile, flag !== undefined);
}
