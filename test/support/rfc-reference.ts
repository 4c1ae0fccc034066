// An independent, deliberately naive transcription of the 2015 RFC ("COLO: Hybrid mode"):
// the mean update in colo_process_checkpoint and checkpoint_to_passive_mode, with its
// file-scope statics as local variables. The oracle for the seed variant; it shares no code
// with src/colo.
export interface RfcCheckpoint {
  passive: boolean;
  mean: number;
}

export function rfcReplay(
  lengths: readonly number[],
  passiveLimit: number,
  passiveCountParam: number,
): RfcCheckpoint[] {
  let passiveCount = 0;
  let mean = 0.0;
  let count = 0;
  const out: RfcCheckpoint[] = [];
  for (const length of lengths) {
    mean = mean * 0.7 + 0.3 * length;
    count++;
    let passive: boolean;
    if (passiveCount) {
      passiveCount--;
      if (passiveCount) {
        passive = true;
      } else {
        mean = 0.0;
        count = 0;
        passive = false;
      }
    } else if (count < 5) {
      passive = false;
    } else if (mean < passiveLimit) {
      passiveCount = passiveCountParam;
      passive = true;
    } else {
      passive = false;
    }
    out.push({ passive, mean });
  }
  return out;
}
