// Numbers given as text (`set key=value`, CLI options, metadata, the Cockpit form): plain
// decimals only. `Number(text)` alone would also take " 450", "0x1f4", "1e3", "Infinity" and "",
// none of which a user means as a count of ms.

/** An optional minus and decimal digits: "450", "-3", "007". */
export const INTEGER_PATTERN = /^-?[0-9]+$/;

/** An optional minus, then digits with an optional fraction, or a bare fraction: "0.3", ".5". */
export const DECIMAL_PATTERN = /^-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$/;

/** The integer `text` spells, or undefined unless it matches INTEGER_PATTERN exactly. */
export function parseInteger(text: string): number | undefined {
  return INTEGER_PATTERN.test(text) ? Number(text) : undefined;
}

/** The number `text` spells, or undefined unless it matches DECIMAL_PATTERN exactly. */
export function parseDecimal(text: string): number | undefined {
  return DECIMAL_PATTERN.test(text) ? Number(text) : undefined;
}
