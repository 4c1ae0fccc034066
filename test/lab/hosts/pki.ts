// The lab's PKI, made with certtool: a test CA, a server certificate per host (clients that dial
// an IP address check it against the certificate's ip_address), and one client certificate that
// every host and this one present.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../support/exec.js";
import { CLIENT_PKI, LAB_DIR } from "./layout.js";

const PKI_DIR = join(LAB_DIR, "pki");

export interface ServerFiles {
  cert: string;
  key: string;
}

// libvirt wants both key usages on server and client certificates.
const LEAF = [
  "organization = colo-hybrid lab",
  "encryption_key",
  "signing_key",
  "expiration_days = 30",
];

async function certtool(args: string[]): Promise<void> {
  await run("certtool", args, { timeoutMs: 60_000 });
}

async function signed(name: string, template: string[], ca: { cert: string; key: string }) {
  const dir = join(PKI_DIR, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const info = join(dir, "cert.info");
  await writeFile(info, `${[...LEAF, ...template].join("\n")}\n`);
  await certtool(["--generate-privkey", "--outfile", key]);
  await certtool([
    ...["--generate-certificate", "--load-privkey", key, "--template", info],
    ...["--load-ca-certificate", ca.cert, "--load-ca-privkey", ca.key, "--outfile", cert],
  ]);
  return { cert, key };
}

/**
 * The CA (its certificate is CLIENT_PKI/cacert.pem), the client files in CLIENT_PKI, and a
 * server certificate for each host.
 */
export async function makeLabPki(
  hosts: readonly { name: string; address: string }[],
): Promise<{ caCert: string; servers: Map<string, ServerFiles> }> {
  const caDir = join(PKI_DIR, "ca");
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  await mkdir(CLIENT_PKI, { recursive: true, mode: 0o700 });
  const ca = { cert: join(CLIENT_PKI, "cacert.pem"), key: join(caDir, "cakey.pem") };
  const info = join(caDir, "ca.info");
  await writeFile(info, "cn = colo-hybrid lab CA\nca\ncert_signing_key\nexpiration_days = 30\n");
  await certtool(["--generate-privkey", "--outfile", ca.key]);
  await certtool([
    ...["--generate-self-signed", "--load-privkey", ca.key, "--template", info],
    ...["--outfile", ca.cert],
  ]);
  const client = await signed("client-cert", ["cn = colo-hybrid lab client", "tls_www_client"], ca);
  await run("cp", [client.cert, join(CLIENT_PKI, "clientcert.pem")]);
  await run("cp", [client.key, join(CLIENT_PKI, "clientkey.pem")]);
  const servers = new Map<string, ServerFiles>();
  for (const h of hosts) {
    const template = [`cn = ${h.name}`, `dns_name = ${h.name}`, `ip_address = ${h.address}`];
    servers.set(h.name, await signed(h.name, [...template, "tls_www_server"], ca));
  }
  return { caCert: ca.cert, servers };
}
