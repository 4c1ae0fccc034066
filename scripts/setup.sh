#!/usr/bin/env bash
# Installs what colo-hybrid's build, tests and demo need on Debian 12, as root.
# Safe to run again: each step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node.js >= 18: Debian 12's own when the host has none.
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
  apt_install nodejs npm
fi

# The real components the tests run against: libvirt with QEMU (guests run under TCG), virsh,
# an sshd and certtool for the SSH and TLS transports, the system bus; python3-libvirt is the
# anchor of the QMP round-trip benchmark.
apt_install libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils gnutls-bin openssh-server \
  openssh-client dbus python3-libvirt
# The COLO lab: its guest is Debian's kernel with a busybox initramfs, and gdb carries the
# runtime workaround for QEMU 7.2's TCG bugs on the primary; bridged guests get a Linux bridge
# (iproute2), clients (curl) in a network namespace, and tcpdump to see what reaches them;
# the lab hosts' network faults are iptables rules in their namespaces.
apt_install linux-image-amd64 busybox-static gdb xz-utils iproute2 curl tcpdump iptables
# The agent's unit is checked with systemd-analyze; the Cockpit page is served by a real
# cockpit-ws and driven in Debian's Chromium; the .deb and .rpm are built and linted here.
apt_install systemd cockpit-ws cockpit-bridge chromium debhelper rpm rpmlint lintian fakeroot

# The cluster the failover drills run on: corosync and Pacemaker on the lab hosts
# (test/lab/hosts/cluster.ts); ocf-tester (resource-agents) checks our resource agent, its
# meta-data with xmllint (libxml2-utils). A policy-rc.d that says 101 keeps their install from starting
# them on this machine: Docker's images have one; elsewhere ours, for the install only.
cluster=(pacemaker pacemaker-cli-utils corosync crmsh fence-agents resource-agents pcs libxml2-utils)
if [ -e /usr/sbin/policy-rc.d ]; then apt_install "${cluster[@]}"; else
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt_install "${cluster[@]}"
  rm -f /usr/sbin/policy-rc.d && trap - EXIT
fi

# npm packages, exactly as locked; again only when the lock changed.
if [ ! -f node_modules/.setup-stamp ] || [ package-lock.json -nt node_modules/.setup-stamp ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.setup-stamp
fi

# Debian 12's Node.js 18, unpacked beside the build, so the tests also run the bundles under the
# oldest Node we support when the host's node is newer. Its libnode loads a few builtins from
# Debian's node-* packages by absolute path, and links c-ares.
node18=build/node18
if [ "$(node -p 'process.versions.node.split(".")[0]')" != 18 ] && [ ! -x "$node18/usr/bin/node" ]; then
  apt_install libc-ares2 node-acorn node-cjs-module-lexer node-undici
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  version=$(apt-cache madison nodejs | awk '$3 ~ /^18\./ { print $3; exit }')
  [ -n "$version" ] || { say "no Node.js 18 in the apt sources (Debian 12 has it)"; exit 1; }
  say "unpacking Debian's nodejs $version into $node18"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "nodejs=$version" "libnode108=$version" 2>/dev/null)
  mkdir -p "$node18"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$node18"; done
  rm -rf "$tmp"
fi
say "ready"
