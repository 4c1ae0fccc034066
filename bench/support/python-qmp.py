#!/usr/bin/python3
"""Anchor for bench/qmp-roundtrip.ts: libvirt's own C client through python3-libvirt.

Times N round trips of one QMP command through libvirt_qemu.qemuMonitorCommand on one
persistent connection and prints them (ms) as a JSON list.
Usage: python-qmp.py URI DOMAIN COMMAND N
"""
import json
import sys
import time

import libvirt
import libvirt_qemu

uri, name, command, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = libvirt.open(uri)
dom = conn.lookupByName(name)
cmd = json.dumps({"execute": command})
libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)  # warm-up
times = []
for _ in range(n):
    t0 = time.perf_counter()
    libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)
    times.append((time.perf_counter() - t0) * 1000)
conn.close()
print(json.dumps(times))
