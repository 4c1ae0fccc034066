// The packages as the distributions check them: lintian on the source package and both .debs,
// rpmlint on both .rpms, the source rpm and the spec (with Fedora's settings, which Debian's
// rpmlint lacks), each with our overrides and their reasons; and the .rpm holding the .deb's
// files in Fedora's places.
import { beforeAll, describe, expect, it } from "vitest";
import { run } from "../support/exec.js";
import {
  buildPackages,
  CHANGES,
  debFiles,
  NAMES,
  type PackagedFile,
  rpm,
  rpmFiles,
  SOURCE_RPM,
  SPEC,
} from "./packages.js";

beforeAll(buildPackages, 600_000);

/** Where Fedora has what Debian 12 has elsewhere. */
const FEDORA_PLACES: [RegExp, string][] = [
  [/^\/lib\/systemd\/system\//, "/usr/lib/systemd/system/"],
];
/** Each distribution's own documentation and lint overrides. */
const DISTRO_OWN = /^\/usr\/share\/(doc|lintian)\//;

function inFedoraPlaces(files: PackagedFile[]): string[] {
  return files
    .filter((f) => !DISTRO_OWN.test(f.path))
    .map((f) => {
      const path = FEDORA_PLACES.reduce((p, [from, to]) => p.replace(from, to), f.path);
      return `${f.mode} ${path}`;
    })
    .sort();
}

describe("the packages", () => {
  it("pass lintian: no errors, no warnings", async () => {
    const { stdout, stderr } = await run("lintian", ["--fail-on", "error,warning", CHANGES], {
      timeoutMs: 300_000,
    });
    const findings = `${stdout}${stderr}`.split("\n").filter((l) => /^[EW]: /.test(l));
    expect(findings).toEqual([]);
  }, 300_000);

  it("pass rpmlint: no errors, no warnings", async () => {
    const lint = await run("rpmlint", [
      "-c",
      "test/packaging/fedora-rpmlint.toml",
      "-r",
      "test/packaging/colo-hybrid.rpmlintrc",
      ...NAMES.map(rpm),
      SOURCE_RPM,
      SPEC,
    ]);
    expect(lint.stdout).toMatch(/ 0 errors, 0 warnings, /);
  });

  it.each(NAMES)("%s: the .rpm has the .deb's files in Fedora's places", async (name) => {
    const [fromDeb, fromRpm] = await Promise.all([debFiles(name), rpmFiles(name)]);
    expect(inFedoraPlaces(fromRpm)).toEqual(inFedoraPlaces(fromDeb));
    expect(fromRpm.map((f) => f.path)).toContain(
      name === "colo-hybrid"
        ? "/usr/lib/systemd/system/colo-hybrid-agent@.service"
        : "/usr/share/cockpit/colo-hybrid/manifest.json",
    );
  });
});
