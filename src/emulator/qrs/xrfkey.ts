// Request checks of the QRS API (reference/qrs-api.md "Connecting"): Xrfkey query parameter = X-Qlik-Xrfkey header
// (16 characters 0-9a-zA-Z), and the caller's user in X-Qlik-User.
import type { IncomingHttpHeaders } from 'node:http';

export interface Refusal {
  status: 400 | 403;
  message: string;
}

export interface QlikUser {
  userDirectory: string;
  userId: string;
}

const XRFKEY = /^[0-9a-zA-Z]{16}$/;

// The single value of a header (the first when repeated).
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

// Check the Xrfkey pair of a request; null when it passes.
export function checkXrfkey(url: URL, headers: IncomingHttpHeaders): Refusal | null {
  const fromQuery = url.searchParams.get('xrfkey') ?? url.searchParams.get('Xrfkey') ?? url.searchParams.get('XrfKey');
  const fromHeader = header(headers, 'X-Qlik-Xrfkey');
  if (fromQuery === null || fromHeader === undefined) {
    const missing = [fromQuery === null ? 'the Xrfkey query parameter' : '', fromHeader === undefined ? 'the X-Qlik-Xrfkey header' : ''].filter(Boolean).join(' and ');
    return { status: 403, message: `XSRF prevention check failed. Possible XSRF discovered. (missing ${missing}: send the same 16 characters in both)` };
  }
  if (!XRFKEY.test(fromQuery)) return { status: 400, message: `Xrfkey must be 16 characters of 0-9, a-z, A-Z (got ${fromQuery.length} characters)` };
  if (fromQuery !== fromHeader) return { status: 403, message: 'XSRF prevention check failed. Possible XSRF discovered. (the Xrfkey query parameter and the X-Qlik-Xrfkey header differ)' };
  return null;
}

// Read X-Qlik-User ("UserDirectory=INTERNAL; UserId=sa_api"); a refusal when it is missing or malformed.
export function readQlikUser(headers: IncomingHttpHeaders): QlikUser | Refusal {
  const raw = header(headers, 'X-Qlik-User');
  if (raw === undefined) {
    return { status: 403, message: 'X-Qlik-User header missing: name the user, e.g. "X-Qlik-User: UserDirectory=INTERNAL; UserId=sa_api"' };
  }
  const fields = new Map<string, string>();
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const userDirectory = fields.get('userdirectory');
  const userId = fields.get('userid');
  if (!userDirectory || !userId) {
    return { status: 400, message: `X-Qlik-User "${raw}" is malformed: expected "UserDirectory=<directory>; UserId=<id>"` };
  }
  return { userDirectory, userId };
}

// True when a value is a refusal.
export function isRefusal(v: unknown): v is Refusal {
  return typeof v === 'object' && v !== null && 'status' in v && 'message' in v;
}
