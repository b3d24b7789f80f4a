// Compare two rule sets (a live site, an export folder or a backup set, in any pairing): rules matched by seed id
// (default rules) or name, custom property definitions by name, values by object type and name.
import { canonical, normalizedRule, type ObjectValues, type RuleFile, type RuleSet, VALUE_KINDS } from './model.js';

export interface Change {
  what: 'rule' | 'custom property' | 'values';
  /** Rule name, property name, or "<Type> <name>". */
  key: string;
  change: 'added' | 'removed' | 'changed';
  /** Changed fields with their old and new values (as JSON text). */
  fields?: Array<{ field: string; a: string; b: string }>;
}

const ruleKey = (r: RuleFile) => (r.seedId ? `seed:${r.seedId}` : `name:${r.name.toLowerCase()}`);
const objKey = (o: ObjectValues) => `${o.name.toLowerCase()}\u0000${String(o.stream ?? '').toLowerCase()}`;

// The fields of two objects that differ.
function fieldChanges(a: Record<string, unknown>, b: Record<string, unknown>): Array<{ field: string; a: string; b: string }> {
  const out: Array<{ field: string; a: string; b: string }> = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
    const x = JSON.stringify(a[k] ?? null);
    const y = JSON.stringify(b[k] ?? null);
    if (x !== y) out.push({ field: k, a: x, b: y });
  }
  return out;
}

function compare<T>(what: Change['what'], a: T[], b: T[], key: (x: T) => string, label: (x: T) => string): Change[] {
  const out: Change[] = [];
  const mb = new Map(b.map((x) => [key(x), x]));
  const ma = new Map(a.map((x) => [key(x), x]));
  for (const x of a) {
    const y = mb.get(key(x));
    if (!y) out.push({ what, key: label(x), change: 'removed' });
    else {
      const fields = fieldChanges(x as Record<string, unknown>, y as Record<string, unknown>);
      if (fields.length) out.push({ what, key: label(x), change: 'changed', fields });
    }
  }
  for (const y of b) if (!ma.has(key(y))) out.push({ what, key: label(y), change: 'added' });
  return out;
}

/** What changes from A to B ("added" is in B only). */
export function diffSets(a: RuleSet, b: RuleSet): Change[] {
  const ca = canonical(a);
  const cb = canonical(b);
  const out = [
    ...compare('rule', ca.rules.map(normalizedRule), cb.rules.map(normalizedRule), ruleKey, (r) => r.name),
    ...compare('custom property', ca.definitions, cb.definitions, (d) => d.name.toLowerCase(), (d) => d.name),
  ];
  for (const [k, type] of VALUE_KINDS) out.push(...compare('values', ca.values[k], cb.values[k], objKey, (o) => `${type} ${o.name}${o.stream ? ` (stream ${o.stream})` : ''}`));
  return out;
}

/** The changes as text: "+ rule X", "- rule Y", "~ rule Z" with one line per changed field. */
export function formatChanges(changes: Change[], labels: { a: string; b: string }): string {
  if (!changes.length) return `no differences between ${labels.a} and ${labels.b}`;
  const lines = [`--- ${labels.a}`, `+++ ${labels.b}`];
  for (const c of changes) {
    const sign = c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~';
    lines.push(`${sign} ${c.what} ${c.key}${c.change === 'changed' ? '' : ` (${c.change})`}`);
    for (const f of c.fields ?? []) {
      lines.push(`    ${f.field}:`);
      lines.push(`      - ${f.a}`);
      lines.push(`      + ${f.b}`);
    }
  }
  return lines.join('\n');
}
