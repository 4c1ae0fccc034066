# colo-hybrid — see README.md. `make check` is what CI runs.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

.PHONY: all setup build lint format typecheck test check demo demo-stop demo-replay lab-hosts lab-hosts-stop bench bench-agent clean install-hook install-ocf

all: build

setup:
	bash scripts/setup.sh

# The command and the agent (scripts/bundle.ts says how the node bundles are built).
dist/colo-hybrid.mjs: $(shell find src -name '*.ts') scripts/bundle.ts package-lock.json
	$(NODE_BIN)/tsx scripts/bundle.ts src/cli/main.ts $@ --executable

# The libvirt hook's node part, and the agents' supervisor where systemd does not run (src/hook/).
dist/colo-hybrid-hook.mjs: $(shell find src -name '*.ts') scripts/bundle.ts package-lock.json
	$(NODE_BIN)/tsx scripts/bundle.ts src/hook/main.ts $@

build: dist/colo-hybrid.mjs dist/colo-hybrid-hook.mjs

# The hook script, for the bundles in LIBDIR (packages install them in /usr/lib/colo-hybrid; the
# tests use the checkout's dist/). libvirtd finds a new hook only when it starts.
HOOKDIR := /etc/libvirt/hooks/qemu.d
LIBDIR := /usr/lib/colo-hybrid
NODE := /usr/bin/node
install-hook:
	@[[ "$(NODE)$(LIBDIR)" =~ ^[A-Za-z0-9_./+-]+$$ ]] || { echo "NODE and LIBDIR: plain paths only" >&2; exit 1; }
	sed -e 's|@NODE@|$(NODE)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' hooks/colo-hybrid.in \
	  | install -D -m 0755 /dev/stdin $(DESTDIR)$(HOOKDIR)/colo-hybrid

# The Cockpit page (cockpit/): one bundle of the page with React, PatternFly, the policy's
# parameter schema and the readers of Pacemaker's XML; index.html loads the host's own
# ../base1/cockpit.js beside it.
dist/cockpit/index.js: $(shell find cockpit src/colo src/dbus src/cluster src/libvirt/xml -type f) package-lock.json
	rm -rf dist/cockpit
	$(NODE_BIN)/esbuild cockpit/src/index.tsx --bundle --minify --format=iife \
	  --target=chrome100,firefox100,safari15 --jsx=automatic --define:process.env.NODE_ENV='"production"' \
	  --loader:.woff2=file --loader:.svg=file --asset-names='assets/[name]-[hash]' \
	  --outdir=dist/cockpit --log-level=warning
	cp cockpit/manifest.json cockpit/index.html dist/cockpit/

build: dist/cockpit/index.js

# The Pacemaker resource agent ocf:colo-hybrid:colo, for the bundle in LIBDIR (as install-hook).
OCFDIR := /usr/lib/ocf/resource.d/colo-hybrid
install-ocf:
	@[[ "$(NODE)$(LIBDIR)" =~ ^[A-Za-z0-9_./+-]+$$ ]] || { echo "NODE and LIBDIR: plain paths only" >&2; exit 1; }
	sed -e 's|@NODE@|$(NODE)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' packaging/ocf/colo.in \
	  | install -D -m 0755 /dev/stdin $(DESTDIR)$(OCFDIR)/colo

.PHONY: install-cockpit
PREFIX ?= /usr
install-cockpit: dist/cockpit/index.js
	install -d $(DESTDIR)$(PREFIX)/share/cockpit/colo-hybrid
	cp -R dist/cockpit/. $(DESTDIR)$(PREFIX)/share/cockpit/colo-hybrid/

# Distro packages (packaging/README.md). `make install` is what both install, the command run by
# the same node as the hook and the unit; UNITDIR is /lib/systemd/system on Debian 12. `make dist`
# is a source tarball with the bundles prebuilt, from which `make deb` and `make rpm` build
# offline; everything lands in build/packages/.
.PHONY: install dist deb rpm
UNITDIR := /usr/lib/systemd/system
BUNDLES := dist/colo-hybrid.mjs dist/colo-hybrid-hook.mjs
install: install-hook install-ocf install-cockpit
	sed '1s|^#!/usr/bin/env node$$|#!$(NODE)|' dist/colo-hybrid.mjs \
	  | install -D -m 0755 /dev/stdin $(DESTDIR)$(LIBDIR)/colo-hybrid.mjs
	install -D -m 0644 -t $(DESTDIR)$(LIBDIR) dist/colo-hybrid-hook.mjs
	install -D -m 0755 -t $(DESTDIR)$(LIBDIR) packaging/debian/maintscript-helper
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -srf $(DESTDIR)$(LIBDIR)/colo-hybrid.mjs $(DESTDIR)$(PREFIX)/bin/colo-hybrid
	install -D -m 0644 -t $(DESTDIR)$(UNITDIR) packaging/systemd/colo-hybrid-agent@.service
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/dbus-1/system.d packaging/dbus/org.colo_hybrid.Agent.conf
	install -D -m 0644 packaging/hosts.conf $(DESTDIR)/etc/colo-hybrid/hosts.conf
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man1 packaging/man/colo-hybrid.1
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man8 packaging/man/colo-hybrid-agent.8

VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
DIST_NAME := colo-hybrid-$(VERSION)
TARBALL := build/packages/$(DIST_NAME).tar.xz
# The tarball: the bundles, their sources and what installs them, not the tests (they need a
# development checkout). Untracked files count, ignored ones do not.
DIST_FILES := $(wildcard $(shell git ls-files -co --exclude-standard src cockpit hooks packaging docs scripts \
  README.md Makefile package.json package-lock.json tsconfig.json 2>/dev/null))
dist: $(TARBALL)
$(TARBALL): $(DIST_FILES) $(BUNDLES) dist/cockpit/index.js
	rm -rf build/dist && mkdir -p build/dist/$(DIST_NAME) build/packages
	cp --parents -p $(DIST_FILES) $(BUNDLES) build/dist/$(DIST_NAME)/
	cp -pR dist/cockpit build/dist/$(DIST_NAME)/dist/
	sed 's/@VERSION@/$(VERSION)/' packaging/colo-hybrid.spec.in > build/dist/$(DIST_NAME)/colo-hybrid.spec
	tar -C build/dist --sort=name --owner=0 --group=0 --numeric-owner \
	  --mtime=@$$(git log -1 --format=%ct) -cJf $@ $(DIST_NAME)

DEB_VERSION := $(shell sed -n '1s/^colo-hybrid (\(.*\)).*/\1/p' packaging/debian/changelog)
DEB := build/packages/colo-hybrid_$(DEB_VERSION)_all.deb
deb: $(DEB)
$(DEB): $(TARBALL)
	@case $(DEB_VERSION) in $(VERSION)-*) ;; *) echo "packaging/debian/changelog is at \
	  $(DEB_VERSION), package.json at $(VERSION)" >&2; exit 1 ;; esac
	rm -rf build/deb && mkdir -p build/deb
	ln $(TARBALL) build/deb/colo-hybrid_$(VERSION).orig.tar.xz
	tar -C build/deb -xf $(TARBALL)
	cp -R build/deb/$(DIST_NAME)/packaging/debian build/deb/$(DIST_NAME)/debian
	cd build/deb/$(DIST_NAME) && dpkg-buildpackage -us -uc
	cp build/deb/*colo-hybrid_$(DEB_VERSION)* build/packages/
	ln -f $(TARBALL) build/packages/colo-hybrid_$(VERSION).orig.tar.xz

# --nodeps: on Debian, rpm's own database knows none of the build dependencies; and Debian's rpm
# runs its brp-compress (a bash script) with sh, which leaves man pages uncompressed.
RPM_RELEASE := $(shell sed -n 's/^Release: *\([0-9]*\).*/\1/p' packaging/colo-hybrid.spec.in)
RPM := build/packages/colo-hybrid-$(VERSION)-$(RPM_RELEASE).noarch.rpm
rpm: $(RPM)
$(RPM): $(TARBALL)
	rm -rf build/rpm && mkdir -p build/rpm
	rpmbuild -ta --nodeps --define '_topdir $(abspath build/rpm)' \
	  --define '__brp_compress bash /usr/lib/rpm/brp-compress %{_prefix}' $(TARBALL)
	tar -xOf $(TARBALL) $(DIST_NAME)/colo-hybrid.spec > build/packages/colo-hybrid.spec
	cp build/rpm/RPMS/noarch/*.rpm build/rpm/SRPMS/*.src.rpm build/packages/

lint:
	$(NODE_BIN)/biome check .

format:
	$(NODE_BIN)/biome check --write .

typecheck:
	$(NODE_BIN)/tsc -p .
	$(NODE_BIN)/tsc -p cockpit
	$(NODE_BIN)/tsc -p test/cockpit

test: build
	$(NODE_BIN)/vitest run

check: setup lint typecheck test

# The product on this host (demo/live.ts): its packages installed, a live COLO pair whose agents
# the hook started, a load in phases, the Cockpit page; it stays up until demo-stop, which
# removes all the demo added. ON=lab-hosts: the pair across two lab hosts (demo/site.ts).
# demo-replay: the same load's checkpoints replayed through the policy.
ON ?= this-host
demo: setup build
	$(NODE_BIN)/tsx demo/main.ts start $(ON)

demo-stop:
	$(NODE_BIN)/tsx demo/main.ts stop

demo-replay: setup build
	$(NODE_BIN)/tsx demo/main.ts replay

# Two libvirt hosts on this machine (test/lab/hosts/, docs/lab-hosts.md), each in namespaces of
# its own, reachable over qemu+ssh and qemu+tls; prints `NAME URI` per host (LAB_HOSTS=3 for three).
# lab-hosts-stop removes everything they added; lab-hosts again replaces them.
LAB_HOSTS ?= 2
lab-hosts: setup
	$(NODE_BIN)/tsx test/lab/hosts/main.ts start $(LAB_HOSTS)

lab-hosts-stop:
	$(NODE_BIN)/tsx test/lab/hosts/main.ts stop

bench: setup
	$(NODE_BIN)/tsx bench/policy-throughput.ts
	$(NODE_BIN)/tsx bench/qmp-roundtrip.ts
	$(NODE_BIN)/tsx bench/remote-qmp.ts
	$(NODE_BIN)/tsx bench/remote-pause.ts
	$(NODE_BIN)/tsx bench/host-faults.ts
	$(NODE_BIN)/tsx bench/cluster-failover.ts
	$(NODE_BIN)/tsx bench/reprotect.ts
	$(NODE_BIN)/tsx bench/hook-latency.ts

# The agent on live lab pairs (a few minutes each): hold latency, footprint, COLO vs hybrid,
# the hung-secondary drill.
bench-agent: setup build
	$(NODE_BIN)/tsx bench/secondary-stop-latency.ts
	$(NODE_BIN)/tsx bench/agent-footprint.ts
	$(NODE_BIN)/tsx bench/hybrid-vs-colo.ts
	$(NODE_BIN)/tsx bench/hung-secondary.ts

clean:
	rm -rf dist build
