// The distro packages as `make deb rpm` builds them into build/packages/ (make rebuilds them only
// when their inputs changed, so every test file asks for them), their file lists, and apt and
// dpkg to install, query and purge them (the .deb test and `make demo`).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CommandError, DAEMON_ENV, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";

export const PACKAGES_DIR = join(BUILD_DIR, "packages");
/** Where the colo-hybrid package installs the libvirt hook, and its code. */
export const HOOK = "/etc/libvirt/hooks/qemu.d/colo-hybrid";
export const LIB = "/usr/lib/colo-hybrid";
/** The binary packages, the same names in both formats. */
export const NAMES = ["colo-hybrid", "cockpit-colo-hybrid"] as const;
export type PackageName = (typeof NAMES)[number];

const VERSION = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
/** The Debian version, from the changelog's first line. */
const DEB_VERSION = /\(([^)]+)\)/.exec(readFileSync("packaging/debian/changelog", "utf8"))?.[1];
const RPM_RELEASE = /^Release:\s*(\d+)/m.exec(
  readFileSync("packaging/colo-hybrid.spec.in", "utf8"),
)?.[1];

export const deb = (name: PackageName): string =>
  join(PACKAGES_DIR, `${name}_${DEB_VERSION}_all.deb`);
export const rpm = (name: PackageName): string =>
  join(PACKAGES_DIR, `${name}-${VERSION}-${RPM_RELEASE}.noarch.rpm`);
export const SOURCE_RPM = join(PACKAGES_DIR, `colo-hybrid-${VERSION}-${RPM_RELEASE}.src.rpm`);
export const SPEC = join(PACKAGES_DIR, "colo-hybrid.spec");
/** The source package and both .debs, as dpkg-buildpackage lists them for an upload. */
export const CHANGES = join(PACKAGES_DIR, `colo-hybrid_${DEB_VERSION}_amd64.changes`);

/** Builds what is missing or stale: the tarball, the source package, the .debs and the .rpms. */
export async function buildPackages(): Promise<void> {
  await run("make", ["--no-print-directory", "deb", "rpm"], { timeoutMs: 300_000 });
}

/** A packaged file: its path, and its type and permissions as `ls -l` shows them. */
export interface PackagedFile {
  path: string;
  mode: string;
}

/** Files and symlinks (not directories) of a .deb, from `dpkg-deb -c`. */
export async function debFiles(name: PackageName): Promise<PackagedFile[]> {
  const { stdout } = await run("dpkg-deb", ["-c", deb(name)]);
  return stdout
    .split("\n")
    .filter((line) => /^[-l]/.test(line))
    .map((line) => {
      const fields = line.split(/\s+/);
      return { mode: fields[0] as string, path: (fields[5] as string).replace(/^\./, "") };
    });
}

/** Files and symlinks of an .rpm, from `rpm -qp` with their modes. */
export async function rpmFiles(name: PackageName): Promise<PackagedFile[]> {
  const { stdout } = await run("rpm", [
    "-qp",
    "--queryformat",
    "[%{FILEMODES:perms} %{FILENAMES}\\n]",
    rpm(name),
  ]);
  return stdout
    .split("\n")
    .filter((line) => /^[-l]/.test(line))
    .map((line) => {
      const [mode, path] = line.split(" ") as [string, string];
      return { mode, path };
    });
}

const APT_ENV = { ...DAEMON_ENV, DEBIAN_FRONTEND: "noninteractive" };
export const apt = (args: string[]) => run("apt-get", args, { timeoutMs: 300_000, env: APT_ENV });

/** A dpkg-query -W format of one field (dpkg's own ${field} syntax). */
export const dpkgField = (field: string) => `-f=\${${field}}`;

/** dpkg's word for a package: installed, config-files, not-installed. */
export async function dpkgStatus(name: string): Promise<string> {
  try {
    return (await run("dpkg-query", ["-W", dpkgField("db:Status-Status"), name])).stdout;
  } catch (e) {
    if (e instanceof CommandError) return "not-installed";
    throw e;
  }
}

export async function owner(path: string): Promise<string | undefined> {
  try {
    return (await run("dpkg-query", ["-S", path])).stdout.split(":")[0];
  } catch (e) {
    if (e instanceof CommandError) return undefined;
    throw e;
  }
}

/** Purges our packages where any of them is installed, or left with its conffiles. */
export async function purgeIfInstalled(): Promise<void> {
  const states = await Promise.all(NAMES.map(dpkgStatus));
  if (states.some((s) => s !== "not-installed")) await apt(["purge", "-y", ...NAMES]);
}
