// QMP through libvirt's passthrough: the command as JSON text, the reply parsed.
import { LibvirtError, QmpError } from "./errors.js";

export function qmpCommandJson(command: string, args?: Record<string, unknown>): string {
  return JSON.stringify(
    args === undefined ? { execute: command } : { execute: command, arguments: args },
  );
}

/** QEMU's reply, as libvirt passes it on: {"return": …} or {"error": {"class", "desc"}}. */
export function parseQmpReply(command: string, text: string): unknown {
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    throw new LibvirtError(
      "protocol",
      `${command}: QEMU's reply is not JSON: ${text.slice(0, 200)}`,
    );
  }
  const r = reply as { return?: unknown; error?: { class?: unknown; desc?: unknown } };
  if (r.error !== undefined) {
    throw new QmpError(
      String(r.error.class ?? "GenericError"),
      String(r.error.desc ?? ""),
      command,
    );
  }
  return r.return;
}
