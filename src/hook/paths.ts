// Where a supervised agent (no systemd) keeps its files; each is named by the domain's UUID
// (lowercase, with dashes, as `virsh domuuid` prints it), never by its name.
export const RUN_DIR = "/run/colo-hybrid";
export const LOG_DIR = "/var/log/colo-hybrid";

/** The lock: the pid of the domain's supervisor. */
export const pidFile = (uuid: string): string => `${RUN_DIR}/${uuid}.pid`;

/** A supervisor told to stop, until it has; the next one for the domain waits for it. */
export const stoppingFile = (uuid: string, pid: number): string =>
  `${RUN_DIR}/${uuid}.${pid}.stopping`;

/** The supervisor's and its agent's output, and the hook's problems with the domain. */
export const logFile = (uuid: string): string => `${LOG_DIR}/${uuid}.log`;
