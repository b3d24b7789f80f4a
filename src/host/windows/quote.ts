// Values for PowerShell. node-powershell sends text as it is, so nothing we interpolate may be able to leave its
// place: values travel as base64 JSON (an alphabet PowerShell gives no meaning to) or as single-quoted literals.

// PowerShell ends a single-quoted string at ' and also at the typographic quotes U+2018-U+201B; doubling any of
// them keeps it inside. Nothing else is special inside single quotes (no $ expansion, no backtick escapes).
const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g;

/** A PowerShell single-quoted string literal holding exactly `value`. */
export function psLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a PowerShell value cannot contain a NUL character');
  return `'${value.replace(SINGLE_QUOTES, (q) => q + q)}'`;
}

/** Base64 of UTF-8 JSON: how a script's arguments reach PowerShell (decoded there with ConvertFrom-Json). */
export function base64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/** Base64 of UTF-8 text (a script body). */
export function base64Text(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
