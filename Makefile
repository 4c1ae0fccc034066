# colo-hybrid — see README.md. `make check` is what CI runs.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

.PHONY: all setup build lint format typecheck test check demo demo-stop bench clean

all: build

setup:
	bash scripts/setup.sh

dist/colo-hybrid.mjs: $(shell find src -name '*.ts') package-lock.json
	$(NODE_BIN)/esbuild src/cli/main.ts --bundle --platform=node --target=node18 --format=esm \
	  --banner:js='#!/usr/bin/env node' --outfile=$@ --log-level=warning
	chmod +x $@

build: dist/colo-hybrid.mjs

lint:
	$(NODE_BIN)/biome check .

format:
	$(NODE_BIN)/biome check --write .

typecheck:
	$(NODE_BIN)/tsc -p .

test: build
	$(NODE_BIN)/vitest run

check: setup lint typecheck test

# A live COLO pair on this host under a phase-changing load; it stays up until demo-stop.
demo: setup build
	$(NODE_BIN)/tsx test/lab/demo.ts start

demo-stop:
	$(NODE_BIN)/tsx test/lab/demo.ts stop

bench: setup
	$(NODE_BIN)/tsx bench/policy-throughput.ts
	$(NODE_BIN)/tsx bench/qmp-roundtrip.ts

clean:
	rm -rf dist build
