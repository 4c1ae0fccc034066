// A throw-away PKI for libvirt's TLS transport, made with certtool (gnutls-bin). The file names
// are the layout libvirt reads from a `?pkipath=DIR` URI (client side); the daemon is pointed at
// the server files by key_file, cert_file and ca_file.
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run } from "./exec.js";
import { BUILD_DIR } from "./paths.js";

const DEFAULT_PKI_DIR = join(BUILD_DIR, "test-pki");

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Regenerate when a certificate expires sooner than this. */
const MIN_REMAINING_MS = 24 * 3600 * 1000;

const TEMPLATES = {
  ca: ["cn = colo-hybrid test CA", "ca", "cert_signing_key", "expiration_days = 3650"],
  // libvirt's certificate checks want both key usages; clients check the address they dialled
  // against the SANs, so both names of the loopback host are there.
  server: [
    "organization = colo-hybrid test",
    "cn = localhost",
    "dns_name = localhost",
    "ip_address = 127.0.0.1",
    "tls_www_server",
    "encryption_key",
    "signing_key",
    "expiration_days = 365",
  ],
  client: [
    "organization = colo-hybrid test",
    "cn = colo-hybrid test client",
    "tls_www_client",
    "encryption_key",
    "signing_key",
    "expiration_days = 365",
  ],
};

function pkiIn(dir: string): TestPki {
  return {
    dir,
    caCert: join(dir, "cacert.pem"),
    serverCert: join(dir, "servercert.pem"),
    serverKey: join(dir, "serverkey.pem"),
    clientCert: join(dir, "clientcert.pem"),
    clientKey: join(dir, "clientkey.pem"),
  };
}

function validForAnotherDay(cert: X509Certificate): boolean {
  const now = Date.now();
  return Date.parse(cert.validFrom) <= now && Date.parse(cert.validTo) - now > MIN_REMAINING_MS;
}

function isUsable(pki: TestPki): boolean {
  const files = [pki.caCert, pki.serverCert, pki.serverKey, pki.clientCert, pki.clientKey];
  if (!files.every(existsSync)) return false;
  try {
    const load = (f: string) => new X509Certificate(readFileSync(f));
    const ca = load(pki.caCert);
    const leaves = [load(pki.serverCert), load(pki.clientCert)];
    return [ca, ...leaves].every(validForAnotherDay) && leaves.every((c) => c.verify(ca.publicKey));
  } catch {
    return false;
  }
}

async function certtool(args: string[]): Promise<void> {
  await run("certtool", args, { timeoutMs: 60_000 });
}

async function generate(dir: string): Promise<void> {
  const p = pkiIn(dir);
  const caKey = join(dir, "cakey.pem");
  for (const [name, lines] of Object.entries(TEMPLATES)) {
    await writeFile(join(dir, `${name}.info`), `${lines.join("\n")}\n`);
  }
  for (const key of [caKey, p.serverKey, p.clientKey]) {
    await certtool(["--generate-privkey", "--outfile", key]);
  }
  const template = (name: string) => join(dir, `${name}.info`);
  await certtool([
    "--generate-self-signed",
    "--load-privkey",
    caKey,
    "--template",
    template("ca"),
    "--outfile",
    p.caCert,
  ]);
  for (const [name, key, cert] of [
    ["server", p.serverKey, p.serverCert],
    ["client", p.clientKey, p.clientCert],
  ] as const) {
    await certtool([
      "--generate-certificate",
      "--load-privkey",
      key,
      "--load-ca-certificate",
      p.caCert,
      "--load-ca-privkey",
      caKey,
      "--template",
      template(name),
      "--outfile",
      cert,
    ]);
  }
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate in `dir`, reused
 * when present and valid for another day. Generated beside it and renamed into place, so a
 * run that stops half-way leaves no half PKI behind.
 */
export async function makeTestPki(dir = DEFAULT_PKI_DIR): Promise<TestPki> {
  const pki = pkiIn(dir);
  if (isUsable(pki)) return pki;
  await mkdir(dirname(dir), { recursive: true });
  const fresh = await mkdtemp(`${dir}.tmp-`);
  try {
    await generate(fresh);
    await rm(dir, { recursive: true, force: true });
    await rename(fresh, dir);
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
  return pki;
}
