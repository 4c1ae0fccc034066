// The lab's TCG workaround (test/lab/tcg-workaround.ts) for a primary on a lab host. It is run on
// the host itself: applyTcgWorkaround reads the domain's pid file from /run/libvirt/qemu, and a
// host's is in its own /run. gdb attaches by pid (all hosts share this pid namespace), and as
// one of the host's processes it ends with the host.
//
//   tsx test/lab/hosts/tcg.ts DOMAIN   (on the host) prints the Workaround as JSON, if applied
import { fileURLToPath, pathToFileURL } from "node:url";
import { LibvirtClient } from "../../../src/libvirt/client.js";
import { qemuInfo } from "../../../src/pair/qemu-info.js";
import { applyTcgWorkaround, type Workaround } from "../tcg-workaround.js";
import type { LabHost } from "./hosts.js";
import { TSX_CLI } from "./layout.js";

/** applyTcgWorkaround for `domain` on `host`; its lines go to `log`. */
export async function applyTcgWorkaroundOn(
  host: LabHost,
  domain: string,
  log: (line: string) => void,
): Promise<Workaround | undefined> {
  const r = await host.run(process.execPath, [TSX_CLI, fileURLToPath(import.meta.url), domain], {
    timeoutMs: 90_000,
  });
  for (const line of r.stderr.split("\n").filter(Boolean)) log(`${host.name}: ${line}`);
  const out = r.stdout.trim();
  return out === "" ? undefined : (JSON.parse(out) as Workaround);
}

async function main(domain: string): Promise<void> {
  const lv = await LibvirtClient.connect("qemu:///system");
  try {
    const info = await qemuInfo(lv, await lv.lookupByName(domain));
    const w = await applyTcgWorkaround(domain, info, (line) => console.error(line));
    if (w !== undefined) console.log(JSON.stringify(w));
  } finally {
    await lv.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const domain = process.argv[2];
  if (domain === undefined) {
    console.error("usage: tsx test/lab/hosts/tcg.ts DOMAIN");
    process.exit(2);
  }
  await main(domain);
}
