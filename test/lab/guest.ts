// The COLO lab's guest: Debian's own kernel and a busybox initramfs whose /init brings up its NIC
// (e1000 or virtio-net) and serves HTTP on 10.0.2.15:80, behind QEMU user networking or on a
// bridge. Built at test time from the host's packages, cached under build/lab/guest/.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { CommandError, run } from "../support/exec.js";
import { BUILD_DIR } from "../support/paths.js";

const GUEST_CACHE_DIR = join(BUILD_DIR, "lab", "guest");

/** What GET /cgi-bin/fixed answers, byte for byte, every time: 64 bytes. */
export const FIXED_BODY = "colo-hybrid lab guest: a fixed body, the same bytes every time.\n";

/** The line /init prints on the serial console just before httpd starts. */
export const GUEST_READY_LINE = "lab-guest: serving http on 10.0.2.15:80";

export interface Guest {
  /** Absolute paths, for the domain's <os><kernel> and <initrd>. */
  kernel: string;
  initrd: string;
}

const PACKAGES_HINT =
  "apt-get install --no-install-recommends linux-image-amd64 busybox-static (scripts/setup.sh)";
/** The NIC and disk drivers the guest may need: modules of Debian's kernel, not built in. */
const MODULES = [
  "e1000",
  "virtio_pci",
  "virtio_net",
  "virtio_blk",
  "virtio_scsi",
  "sd_mod",
  "ahci",
];

const INIT = `#!/bin/sh
# /init of the colo-hybrid lab guest, written by test/lab/guest.ts.
# busybox finds its own path for the links in /proc/self/exe.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "lab-guest: kernel $(uname -r)"
# The drivers, each after what it needs (modules.dep); the one for a device not present loads idle.
for m in $(cat /etc/modules); do insmod "/lib/modules/$(uname -r)/$m"; done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
# A second NIC, when there is one, on the lab's second subnet (httpd answers on every address).
if [ -e /sys/class/net/eth1 ]; then ip addr add 10.0.3.15/24 dev eth1; ip link set eth1 up; fi
# The link comes up a second or two after this; a request that arrives before it is lost
# and waits for TCP's retransmission (6 s). So the ready line waits for the carrier (10 s at most).
i=0
while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "lab-guest: eth0 carrier $(cat /sys/class/net/eth0/carrier)"
echo "${GUEST_READY_LINE}"
# Should httpd ever exit, the kernel panics (init exited) and panic=-1 reboots the guest.
exec httpd -f -p 80 -h /www
`;

const CGI_HEADER = "printf 'Content-Type: text/plain\\r\\n\\r\\n'";

/**
 * A record as the write workload puts it at sector N of the guest's first disk (/dev/vda on
 * virtio-blk, /dev/sda on virtio-scsi or SATA), before its NUL padding.
 */
export const recordText = (n: number) => `colo-record ${String(n).padStart(8, "0")}\n`;

const WRITE_RECORD = `exec 9>/tmp/records.lock
flock 9
n=$(($(cat /tmp/records 2>/dev/null || echo 0) + 1))
disk=/dev/vda; [ -b "$disk" ] || disk=/dev/sda
printf 'colo-record %08d\\n' "$n" | dd of="$disk" bs=512 seek="$n" conv=sync,notrunc,fsync 2>/dev/null || { echo "write failed"; exit 0; }
echo "$n" > /tmp/records
echo "$n"
`;

/** The guest's own files, by path in the initramfs, with their modes. */
const GUEST_FILES: Readonly<Record<string, { mode: number; text: string }>> = {
  init: { mode: 0o755, text: INIT },
  "etc/fixed-body": { mode: 0o644, text: FIXED_BODY },
  "www/index.html": {
    mode: 0o644,
    text: "<!DOCTYPE html>\n<html><body><p>colo-hybrid lab guest</p></body></html>\n",
  },
  "www/cgi-bin/fixed": { mode: 0o755, text: `#!/bin/sh\n${CGI_HEADER}\ncat /etc/fixed-body\n` },
  // The clock differs between primary and secondary (the uuid alone would not: the guest's
  // random state is copied at each checkpoint).
  "www/cgi-bin/divergent": {
    mode: 0o755,
    text: `#!/bin/sh\n${CGI_HEADER}\ngrep -m 1 'now at' /proc/timer_list\necho "uuid $(cat /proc/sys/kernel/random/uuid)"\n`,
  },
  // The write workload: each request appends a numbered record (sector N of the disk, fsync'ed)
  // and answers its number only once the record is durable; one writer at a time.
  "www/cgi-bin/write": {
    mode: 0o755,
    text: `#!/bin/sh\n${CGI_HEADER}\n${WRITE_RECORD}`,
  },
};

const DIRECTORIES = [
  "bin",
  "sbin",
  "usr",
  "usr/bin",
  "usr/sbin",
  "etc",
  "proc",
  "sys",
  "dev",
  "tmp",
];

async function installedVersion(pkg: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("dpkg-query", ["-W", `-f=\${Status}|\${Version}`, pkg]);
    const [status, version] = stdout.split("|");
    return status === "install ok installed" ? version : undefined;
  } catch (e) {
    if (e instanceof CommandError) return undefined;
    throw e;
  }
}

async function requiredVersion(pkg: string): Promise<string> {
  const version = await installedVersion(pkg);
  if (version === undefined) throw new Error(`the lab guest needs ${pkg}: ${PACKAGES_HINT}`);
  return version;
}

interface Inputs {
  /** linux-image-amd64's kernel package, e.g. linux-image-6.1.0-56-amd64. */
  kernelPackage: string;
  kernelVersion: string;
  busyboxVersion: string;
  /** sha256 of GUEST_FILES. */
  filesHash: string;
}

/** The kernel package linux-image-amd64 depends on, and the versions the cache is keyed on. */
async function currentInputs(): Promise<Inputs> {
  await requiredVersion("linux-image-amd64");
  const { stdout } = await run("dpkg-query", ["-W", `-f=\${Depends}`, "linux-image-amd64"]);
  const kernelPackage = /\blinux-image-\d\S*/.exec(stdout)?.[0];
  if (kernelPackage === undefined) {
    throw new Error(`linux-image-amd64 depends on no kernel package: ${JSON.stringify(stdout)}`);
  }
  return {
    kernelPackage,
    kernelVersion: await requiredVersion(kernelPackage),
    busyboxVersion: await requiredVersion("busybox-static"),
    filesHash: createHash("sha256")
      .update(JSON.stringify([GUEST_FILES, MODULES, DIRECTORIES]))
      .digest("hex"),
  };
}

/**
 * MODULES and what they need, in load order, as paths under /lib/modules/RELEASE: from the
 * kernel's modules.dep, whose lines are "path: dependency...".
 */
async function moduleOrder(release: string): Promise<string[]> {
  const depFile = join("/lib/modules", release, "modules.dep");
  const deps = new Map<string, string[]>();
  for (const line of (await readFile(depFile, "utf8")).split("\n")) {
    const [path, after] = line.split(":");
    if (path !== undefined && after !== undefined)
      deps.set(path, after.trim().split(/\s+/).filter(Boolean));
  }
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of MODULES) {
    const path = [...deps.keys()].find((p) => /[^/]+(?=\.ko(\.xz)?$)/.exec(p)?.[0] === name);
    if (path === undefined) throw new Error(`no module ${name} in ${depFile}: ${PACKAGES_HINT}`);
    visit(path);
  }
  return order;
}

/** A module's code, decompressed when the kernel package ships it as .ko.xz. */
async function moduleCode(release: string, path: string, scratch: string): Promise<Buffer> {
  const file = join("/lib/modules", release, path);
  if (!path.endsWith(".xz")) return readFile(file);
  const copy = join(scratch, "module.ko.xz");
  await copyFile(file, copy);
  await run("xz", ["--decompress", "--force", copy]);
  const code = await readFile(join(scratch, "module.ko"));
  await rm(join(scratch, "module.ko"));
  return code;
}

interface CpioEntry {
  path: string;
  /** Type and permission bits, as st_mode. */
  mode: number;
  data?: Buffer;
  /** For device nodes. */
  rdev?: { major: number; minor: number };
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/** The "newc" cpio format the kernel unpacks an initramfs from; owner root, mtime 0. */
function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const add = (entry: CpioEntry, ino: number) => {
    const data = entry.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${entry.path}\0`);
    const isDir = (entry.mode & 0o170000) === S_IFDIR;
    const fields = [
      ino,
      entry.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      entry.rdev?.major ?? 0,
      entry.rdev?.minor ?? 0,
      name.length,
      0, // check
    ];
    const header = Buffer.from(
      `070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}`,
    );
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const [i, e] of entries.entries()) add(e, i + 1);
  add({ path: "TRAILER!!!", mode: 0 }, 0);
  return Buffer.concat(parts);
}

async function initramfs(release: string, scratch: string): Promise<Buffer> {
  const modules = await moduleOrder(release);
  const installed = modules.map((m) => ({
    m,
    at: join("lib/modules", release, m.replace(/\.xz$/, "")),
  }));
  const parents = new Set(
    installed.flatMap(({ at }) =>
      at
        .split("/")
        .slice(0, -1)
        .map((_, i, all) => all.slice(0, i + 1).join("/")),
    ),
  );
  const entries: CpioEntry[] = [
    ...[...DIRECTORIES, "www", "www/cgi-bin", ...parents].map((path) => ({
      path,
      mode: S_IFDIR | 0o755,
    })),
    // The kernel opens /dev/console for init before devtmpfs is mounted over /dev.
    { path: "dev/console", mode: S_IFCHR | 0o600, rdev: { major: 5, minor: 1 } },
    { path: "bin/busybox", mode: S_IFREG | 0o755, data: await readFile("/bin/busybox") },
    { path: "bin/sh", mode: S_IFLNK | 0o777, data: Buffer.from("busybox") },
    {
      path: "etc/modules",
      mode: S_IFREG | 0o644,
      data: Buffer.from(
        `${installed.map(({ at }) => at.slice(`lib/modules/${release}/`.length)).join("\n")}\n`,
      ),
    },
    ...Object.entries(GUEST_FILES).map(([path, f]) => ({
      path,
      mode: S_IFREG | f.mode,
      data: Buffer.from(f.text),
    })),
  ];
  // One at a time: moduleCode decompresses in one scratch file.
  for (const { m, at } of installed) {
    entries.push({ path: at, mode: S_IFREG | 0o644, data: await moduleCode(release, m, scratch) });
  }
  return gzipSync(newcArchive(entries), { level: 9 });
}

function cacheKey(inputs: Inputs): string {
  return createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
}

/**
 * The guest's kernel and initramfs, built once per set of inputs (kernel and busybox package
 * versions, the guest's files) into build/lab/guest/KEY/. Safe to call from concurrent
 * processes: each builds aside and renames into place; the first rename wins.
 */
export async function buildGuest(): Promise<Guest> {
  const inputs = await currentInputs();
  const dir = join(GUEST_CACHE_DIR, cacheKey(inputs));
  const guest = { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.cpio.gz") };
  if (existsSync(guest.kernel) && existsSync(guest.initrd)) return guest;

  const release = inputs.kernelPackage.slice("linux-image-".length);
  await mkdir(GUEST_CACHE_DIR, { recursive: true });
  const scratch = await mkdtemp(join(GUEST_CACHE_DIR, ".build-"));
  try {
    // QEMU runs as libvirt-qemu: it must reach the files libvirt hands it (mkdtemp made 0700).
    await chmod(scratch, 0o755);
    await copyFile(join("/boot", `vmlinuz-${release}`), join(scratch, "vmlinuz"));
    await writeFile(join(scratch, "initrd.cpio.gz"), await initramfs(release, scratch));
    await writeFile(join(scratch, "inputs.json"), `${JSON.stringify(inputs, null, 2)}\n`);
    await rename(scratch, dir);
  } catch (e) {
    // Another process renamed its build into place first: theirs is as good as ours.
    const lost = (e as NodeJS.ErrnoException).code;
    if (!((lost === "ENOTEMPTY" || lost === "EEXIST") && existsSync(guest.initrd))) throw e;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return guest;
}
