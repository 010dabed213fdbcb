/**
 * Shared validation helpers. Every public function validates its arguments up
 * front and throws messages of the form `Expected X but found Y`.
 * @module
 */

/** Renders a value for an error message: short, JSON-like, never huge. */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    return `a ${value.constructor.name} of length ${(value as Uint8Array).length}`;
  }
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? text.slice(0, 77) + "..." : text;
  } catch {
    return typeof value;
  }
}

/** Throws `RangeError("<where>: Expected <expected> but found <found>")`. */
export function fail(where: string, expected: string, found: unknown): never {
  throw new RangeError(`${where}: Expected ${expected} but found ${describe(found)}`);
}

/** Asserts `value` is an integer in `[min, max]`. */
export function checkInt(
  where: string,
  name: string,
  value: unknown,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(where, `${name} to be an integer in [${min}, ${max}]`, value);
  }
  return value;
}

/** Asserts `value` is a finite number in `[min, max]`. */
export function checkNumber(
  where: string,
  name: string,
  value: unknown,
  min = -Infinity,
  max = Infinity,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    fail(where, `${name} to be a finite number in [${min}, ${max}]`, value);
  }
  return value;
}
