// The agent's log: one line per event, naming the domain. Under systemd, journald reads the
// "<N>" priority prefix (sd-daemon(3)) and adds the time; in a plain log file each line carries
// its own timestamp instead.
export type Level = "error" | "warning" | "info" | "debug";

const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export type Logger = (level: Level, message: string) => void;

export function makeLogger(
  domain: string,
  out: { write(line: string): unknown } = process.stderr,
  journal = process.env.JOURNAL_STREAM !== undefined,
): Logger {
  // A domain name may hold anything but '/', newlines included: quote it when it is not plain.
  const who = /^[\w.+-]+$/.test(domain) ? domain : JSON.stringify(domain);
  return (level, message) => {
    const text = message.replace(/\s*\n\s*/g, " ");
    out.write(
      journal
        ? `<${PRIORITY[level]}>${who}: ${text}\n`
        : `${new Date().toISOString()} ${level} ${who}: ${text}\n`,
    );
  };
}
