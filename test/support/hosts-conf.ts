// /etc/colo-hybrid/hosts.conf for a test (src/libvirt/hosts-conf.ts): the product reads only that
// path, root's, so the test writes it there and puts back whatever stood there before.
import { existsSync } from "node:fs";
import { mkdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { HOSTS_CONF } from "../../src/libvirt/hosts-conf.js";

/** Writes `text` as hosts.conf; returns what restores the host as it was. */
export async function installHostsConf(text: string): Promise<() => Promise<void>> {
  const dir = dirname(HOSTS_CONF);
  const madeDir = !existsSync(dir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const kept = `${HOSTS_CONF}.before-test-${process.pid}`;
  const hadOne = existsSync(HOSTS_CONF);
  if (hadOne) await rename(HOSTS_CONF, kept);
  await writeFile(HOSTS_CONF, text, { mode: 0o644 });
  return async () => {
    await rm(HOSTS_CONF, { force: true });
    if (hadOne) await rename(kept, HOSTS_CONF);
    else if (madeDir) await rmdir(dir).catch(() => undefined);
  };
}
