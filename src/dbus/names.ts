// Where agents live on the system bus. Domain names are not valid bus-name elements, so an
// agent's name is derived from its domain's UUID.
export const BUS_NAME_PREFIX = "org.colo_hybrid.Agent";
export const OBJECT_PATH = "/org/colo_hybrid/Agent";
export const INTERFACE = "org.colo_hybrid.Agent1";

/** "org.colo_hybrid.Agent.u0e3c…" (32 hex digits; an element may not start with a digit). */
export function busNameForUuid(uuid: string): string {
  const hex = uuid.replaceAll("-", "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a UUID: ${JSON.stringify(uuid)}`);
  return `${BUS_NAME_PREFIX}.u${hex}`;
}

/** The UUID (with dashes) of an agent's bus name; undefined for any other name. */
export function uuidOfBusName(name: string): string | undefined {
  const m = /^org\.colo_hybrid\.Agent\.u([0-9a-f]{32})$/.exec(name);
  const h = m?.[1];
  return h === undefined
    ? undefined
    : `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
