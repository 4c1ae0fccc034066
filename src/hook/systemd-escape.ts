// systemd unit names for the agents. A domain's instance is its UUID's 32 hex digits, which the
// agent's unit also uses as its bus name (BusName=org.colo_hybrid.Agent.u%i). Those need no
// escaping, but the instance still goes through systemd's escaping: a unit name built from
// anything else must never be able to name another unit.

/** The unit-name escaping of `systemd-escape STRING` (no options), as systemd 252 does it. */
export function systemdEscape(text: string): string {
  let out = "";
  const bytes = Buffer.from(text, "utf8");
  bytes.forEach((b, i) => {
    const c = String.fromCharCode(b);
    if (c === "/") out += "-";
    // A leading "." would make a hidden unit; "-" separates the path's parts, "\" escapes.
    else if (/[A-Za-z0-9:_]/.test(c) || (c === "." && i > 0)) out += c;
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  });
  return out;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The agent's instance for a domain UUID (with or without dashes): its 32 hex digits. */
export function agentInstance(uuid: string): string {
  if (!UUID.test(uuid)) throw new RangeError(`not a domain UUID: ${JSON.stringify(uuid)}`);
  return systemdEscape(uuid.replaceAll("-", "").toLowerCase());
}

/** "colo-hybrid-agent@0e3c….service", of packaging/systemd/colo-hybrid-agent@.service. */
export function agentUnit(uuid: string): string {
  return `colo-hybrid-agent@${agentInstance(uuid)}.service`;
}
