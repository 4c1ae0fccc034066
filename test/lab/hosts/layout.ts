// Where the lab hosts live: their names and addresses, and the files of the lab under
// build/lab-hosts/ (absolute: commands run "on" a host start at / in its mount namespace).
import { dirname, join } from "node:path";
import { BUILD_DIR } from "../../support/paths.js";

/** The checkout (the hosts share it with this namespace). */
export const REPO_DIR = dirname(BUILD_DIR.replace(/\/$/, ""));
/** tsx, to run the lab's TypeScript on a host. */
export const TSX_CLI = join(REPO_DIR, "node_modules", "tsx", "dist", "cli.mjs");
export const LAB_DIR = join(BUILD_DIR, "lab-hosts");
/** What start made, for stop (state.ts). */
export const STATE_FILE = join(LAB_DIR, "state.json");
/** Bind-mounted on itself and made private: the hosts' mount and uts namespaces are kept here. */
export const NS_DIR = join(LAB_DIR, "ns");
/** How this host reaches every lab host (the product's hosts.conf format). */
export const HOSTS_CONF_FILE = join(LAB_DIR, "hosts.conf");
/** The lab's ssh client key, authorized for root on every host; the hosts' pinned keys. */
export const SSH_KEY = join(LAB_DIR, "ssh", "id_ed25519");
export const KNOWN_HOSTS = join(LAB_DIR, "ssh", "known_hosts");
/** cacert.pem, clientcert.pem, clientkey.pem: a `pkipath` for every host, from anywhere. */
export const CLIENT_PKI = join(LAB_DIR, "pki", "client");

/** The LAN: a bridge in a namespace of its own, so that no firewall of this host is on it. */
export const LAN_NETNS = "colo-lab-lan";
export const LAN_BRIDGE = "br0";
/** This host's leg on the LAN, and its address there. */
export const ROOT_LINK = "colo-lab-root";
export const ROOT_ADDRESS = "10.77.0.254";
const SUBNET = "10.77.0";

export const MAX_HOSTS = 3;

/**
 * The guests' LAN (startLabHosts({ guestLan: true })): a lab bridge with its client namespace
 * (test/lab/bridge.ts, by this tag), in this namespace; each host's bridge for its guests' NICs,
 * joined to it by a veth.
 */
export const GUEST_LAN_TAG = "labhosts";
export const GUEST_BRIDGE = "br-guest";

/** The names and paths of lab host number `i` (0, 1, 2: colo-lab-a, -b, -c). */
export function hostLayout(i: number) {
  const letter = String.fromCharCode(97 + i);
  const name = `colo-lab-${letter}`;
  const dir = join(LAB_DIR, "hosts", name);
  return {
    name,
    /** Its netns (/run/netns/NAME) and UTS host name. */
    netns: name,
    address: `${SUBNET}.${i + 1}`,
    /** Its veth's end on the LAN bridge; the host's end is eth0. */
    lanPort: `port-${letter}`,
    /** Its veth's end on the guests' LAN (in this namespace); the host's end is on GUEST_BRIDGE. */
    guestPort: `colo-guest-${letter}`,
    mntFile: join(NS_DIR, `${letter}.mnt`),
    utsFile: join(NS_DIR, `${letter}.uts`),
    dir,
    /** The upper layer of its /etc overlay, and the overlay's work directory. */
    etcUpper: join(dir, "etc"),
    etcWork: join(dir, "etc.work"),
    /** The upper layer of its /var/lib overlay (the secondary's images go there), and its work dir. */
    varLibUpper: join(dir, "var-lib"),
    varLibWork: join(dir, "var-lib.work"),
    /** Bind-mounted on /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt. */
    libvirtEtc: join(dir, "libvirt-etc"),
    libvirtLib: join(dir, "libvirt-lib"),
    libvirtLog: join(dir, "libvirt-log"),
    libvirtCache: join(dir, "libvirt-cache"),
    /** With agents: bind-mounted on /var/log/colo-hybrid; and where /run/dbus waits for /run. */
    agentLog: join(dir, "colo-hybrid-log"),
    dbusAside: join(dir, "dbus-aside"),
  };
}

export type HostLayout = ReturnType<typeof hostLayout>;
