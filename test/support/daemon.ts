// A daemon a test spawns on a loopback port (sshd, cockpit-ws): the tail of its output for error
// messages, a failure to spawn, SIGKILL should the test process end without stopping it, and
// ready once it accepts connections.
import type { ChildProcess } from "node:child_process";
import { acceptsConnection } from "./sockets.js";
import { GiveUp, waitUntil } from "./wait.js";

/** Kept of a daemon's output for error messages. */
const MAX_LOG_CHARS = 16_000;

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export interface WatchedDaemon {
  /** The tail of what it wrote to its piped stdout and stderr. */
  log(): string;
  /** Stops killing it when the test process exits: its stop() has run. */
  forget(): void;
  /**
   * Resolves once it accepts connections on 127.0.0.1:port; when it cannot spawn or exits
   * first, or the time runs out, `stop` is called and the error says why, with its log.
   */
  listening(
    what: string,
    port: number,
    timeoutMs: number,
    stop: () => Promise<void>,
  ): Promise<void>;
}

export function watchDaemon(child: ChildProcess): WatchedDaemon {
  let log = "";
  const keep = (chunk: string) => {
    log = (log + chunk).slice(-MAX_LOG_CHARS);
  };
  child.stdout?.setEncoding("utf8").on("data", keep);
  child.stderr?.setEncoding("utf8").on("data", keep);
  let spawnError: Error | undefined;
  child.once("error", (e) => {
    spawnError = e;
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  return {
    log: () => log,
    forget: () => process.removeListener("exit", killOnExit),
    async listening(what, port, timeoutMs, stop) {
      try {
        await waitUntil(
          `${what} on 127.0.0.1:${port}`,
          async () => {
            if (spawnError) throw new GiveUp(spawnError.message);
            if (hasExited(child)) {
              throw new GiveUp(
                `${what} exited (${child.exitCode ?? child.signalCode}):\n${log.trim()}`,
              );
            }
            return acceptsConnection({ host: "127.0.0.1", port });
          },
          timeoutMs,
          50,
        );
      } catch (e) {
        await stop();
        throw e;
      }
    },
  };
}
