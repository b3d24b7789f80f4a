// Secret redaction for logs, the journal and --json output: secrets are shown as ***.

const SECRET_KEY = /(password|passwd|secret|pwd|token|passphrase|privatekey|_key$)/i;
// Keys that name where a secret comes from (an environment variable, a file) are not secrets themselves.
const SECRET_SOURCE_KEY = /(env|file|path)$/i;
export const REDACTED = '***';

/** Holds the secret values of one run and removes them from anything written or printed. */
export class Redactor {
  private readonly values = new Set<string>();

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Remember a secret value (values shorter than 3 characters would redact too much and are refused). */
  add(secret: string | undefined): void {
    if (!secret) return;
    if (secret.length < 3) throw new Error('refusing a secret shorter than 3 characters: it cannot be redacted safely');
    this.values.add(secret);
  }

  /** Replace every known secret in a string. */
  text(s: string): string {
    let out = s;
    for (const v of this.values) out = out.split(v).join(REDACTED);
    return out;
  }

  /** Deep copy of a JSON-like value with secret-named keys and known secret values replaced. */
  value<T>(v: T): T {
    return this.walk(v, undefined) as T;
  }

  private walk(v: unknown, key: string | undefined): unknown {
    if (key !== undefined && SECRET_KEY.test(key) && !SECRET_SOURCE_KEY.test(key) && v !== undefined && v !== null && v !== '') return REDACTED;
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x, undefined));
    if (v instanceof Date) return v.toISOString();
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.walk(x, k);
      return out;
    }
    return v;
  }
}
