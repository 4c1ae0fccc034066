// How numbers, durations and times are written on the page.
import { _, format } from "./i18n.js";

/** A length or pause: "212 ms", "16.9 s", "20 s", "—" when unknown. */
export function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  if (value < 10_000) return format(_("$0 ms"), Math.round(value));
  return format(_("$0 s"), Number((value / 1000).toFixed(1)));
}

/** A round value of a time axis: "100 ms", "1 s", "100 s". */
export function axisMs(value: number): string {
  return value < 1000 ? format(_("$0 ms"), value) : format(_("$0 s"), value / 1000);
}

/** A longer span: "45 s", "3 min 12 s", "2 h 5 min". */
export function duration(value: number): string {
  const s = Math.round(value / 1000);
  if (s < 60) return format(_("$0 s"), s);
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? format(_("$0 min"), m) : format(_("$0 min $1 s"), m, s % 60);
  return format(_("$0 h $1 min"), Math.floor(m / 60), m % 60);
}

export function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)} %` : "—";
}

/** Wall-clock time of an event (ms since the epoch), in the browser's locale. */
export function clock(t: number): string {
  return new Date(t).toLocaleTimeString();
}

export function dateTime(t: number): string {
  return new Date(t).toLocaleString();
}
