// `make lab-hosts` (start [COUNT]) and `make lab-hosts-stop` (stop). start prints one line per
// host on stdout, `NAME URI` (the URI the other hosts reach it by); the rest goes to stderr.
import { startLabHosts, stopLabHosts } from "./hosts.js";
import { hostLayout } from "./layout.js";

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function start(count: number): Promise<void> {
  const t0 = Date.now();
  const lab = await startLabHosts({ count });
  for (const h of lab.hosts) console.log(`${h.name} ${h.tlsUri}`);
  const a = hostLayout(0);
  console.error(`lab-hosts: ${lab.hosts.length} hosts up in ${seconds(t0)}; for instance
  virsh -c 'qemu+tls://${a.address}/system?pkipath=${lab.pkipath}' hostname
  ssh -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} root@${a.address}
  nsenter --net=/run/netns/${a.netns} --mount=${a.mntFile} --uts=${a.utsFile} -- virsh list
how this host reaches them (keyfile, known_hosts, pkipath): ${lab.hostsConfFile}
each host's /etc/colo-hybrid/hosts.conf: how it reaches the others
make lab-hosts-stop removes them`);
}

async function stop(): Promise<void> {
  const t0 = Date.now();
  await stopLabHosts();
  console.error(`lab-hosts: stopped in ${seconds(t0)}`);
}

const [command, arg] = process.argv.slice(2);
try {
  if (command === "start") await start(arg === undefined ? 2 : Number(arg));
  else if (command === "stop") await stop();
  else {
    console.error("usage: tsx test/lab/hosts/main.ts start [COUNT] | stop");
    process.exit(2);
  }
} catch (e) {
  console.error(`lab-hosts: ${(e as Error).message}`);
  process.exit(1);
}
