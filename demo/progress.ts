// What the demo prints as it goes: each step with how long it took, a dot every second while a
// step waits, and times counted from the demo's start.
const started = performance.now();

/** Seconds since the demo started, as "  12.3 s". */
export function elapsed(): string {
  return `${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s`;
}

/** A command's output under the step that ran it, its empty lines left out. */
export function indent(text: string): string {
  return text
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => `           ${l}\n`)
    .join("");
}

export function say(line: string): void {
  process.stdout.write(`[${elapsed()}] ${line}\n`);
}

/** Runs one step: its name first, dots while it runs, then how long it took (or why it failed). */
export async function step<T>(what: string, work: () => Promise<T>): Promise<T> {
  process.stdout.write(`[${elapsed()}] ${what} ...`);
  const t0 = performance.now();
  const dots = setInterval(() => process.stdout.write("."), 1000);
  try {
    const result = await work();
    clearInterval(dots);
    process.stdout.write(` done (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    return result;
  } catch (e) {
    clearInterval(dots);
    process.stdout.write(" failed\n");
    throw e;
  }
}
