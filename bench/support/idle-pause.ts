// The median checkpoint pause of an idle pair: from each STOP of the primary's QEMU to its
// RESUME, by QEMU's own timestamps, over `ms`.
import type { DomainRef, Libvirt } from "../../src/libvirt/api.js";

export async function idlePause(lv: Libvirt, primary: DomainRef, ms: number): Promise<number> {
  const pauses: number[] = [];
  let stop: number | undefined;
  const subs = [
    await lv.onQemuMonitorEvent(primary, "STOP", (e) => {
      stop = e.timestamp;
    }),
    await lv.onQemuMonitorEvent(primary, "RESUME", (e) => {
      if (stop !== undefined) pauses.push(e.timestamp - stop);
      stop = undefined;
    }),
  ];
  await new Promise((r) => setTimeout(r, ms));
  for (const s of subs) await s.close();
  const s = pauses.sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}
