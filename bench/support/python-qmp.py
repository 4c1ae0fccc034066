#!/usr/bin/python3
"""The anchor of bench/qmp-roundtrip.ts: libvirt's own C client through python3-libvirt.

One persistent connection; after WARMUP untimed calls it prints "ready", then for each line N
on stdin times N round trips of COMMAND through libvirt_qemu.qemuMonitorCommand and prints
their times (ms) as one JSON list. bench/support/qmp-timer.ts does the same with ours.
Usage: python-qmp.py URI DOMAIN COMMAND WARMUP
"""
import json
import sys
import time

import libvirt
import libvirt_qemu

uri, name, command, warmup = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = libvirt.open(uri)
dom = conn.lookupByName(name)
cmd = json.dumps({"execute": command})
for _ in range(warmup):
    libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t0 = time.perf_counter()
        libvirt_qemu.qemuMonitorCommand(dom, cmd, 0)
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps(times), flush=True)
conn.close()
