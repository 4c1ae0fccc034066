// What a message may quote of untrusted input (a trace line, a domain's metadata, a config file):
// enough to recognise it by, never the whole of it, however long it is.

/** The most characters of the input a message quotes. */
export const EXCERPT_CHARS = 60;

/** `value` as JSON for a message, cut to `max` characters with "…": `"abc…"`, `{"a":1…`. */
export function excerpt(value: unknown, max = EXCERPT_CHARS): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
  const json = JSON.stringify(value) ?? String(value);
  return json.length > max ? `${json.slice(0, max)}…` : json;
}
