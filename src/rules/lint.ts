// Lint a folder of security rules: what the condition language and the resource filter say together.
// Findings (each with the rule, a code, a severity and, where it has one, line and column in the condition):
//   syntax            the condition does not parse
//   wildcard-equals   `=` with a `*` value: a wildcard needs `like` (seed 002; its own Example 4 is such a case)
//   unknown-property  @name that no custom property definition of the folder has
//   unknown-function  a function other than Empty(), HasPrivilege(), IsAnonymous()
//   filter-uncovered  a branch tests a resource type that no resource filter entry covers
//   filter-unmatched  resource filter entries that no branch's resource type matches
//   no-user-term      a branch with no user.* term: it grants the actions to every user
//   always-true       the condition (or a branch of it) is always true
//   redundant         a rule whose grants another enabled rule already gives (rules only grant, never deny)
//   disabled          information: the rule is disabled
import { ConditionSyntaxError, isLiteral, lineCol, literalValue, operandText, parseCondition, pathKey, type Cond, type Operand } from './parser.js';
import { conditionLines, conditionText, type CustomPropertyDef, type RuleFile } from './model.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  rule: string;
  code: string;
  severity: Severity;
  message: string;
  line?: number;
  col?: number;
}

const FUNCTIONS = ['empty', 'hasprivilege', 'isanonymous'];

/** The branches of a condition in disjunctive form (a list of AND-ed atoms each); `!x` stays one atom. Capped. */
export function branches(c: Cond | undefined, cap = 256): Cond[][] {
  if (!c) return [[]];
  if (c.kind === 'or') return c.items.flatMap((x) => branches(x, cap)).slice(0, cap);
  if (c.kind === 'and') {
    let acc: Cond[][] = [[]];
    for (const item of c.items) {
      const next: Cond[][] = [];
      for (const a of acc) for (const b of branches(item, cap)) if (next.length < cap) next.push([...a, ...b]);
      acc = next;
    }
    return acc;
  }
  return [[c]];
}

// Every operand of a condition (with call arguments).
function operands(c: Cond | undefined, out: Operand[] = []): Operand[] {
  if (!c) return out;
  const add = (o: Operand) => {
    out.push(o);
    if (o.kind === 'path') for (const s of o.segs) for (const a of s.args ?? []) add(a);
  };
  switch (c.kind) {
    case 'or':
    case 'and':
      c.items.forEach((x) => operands(x, out));
      break;
    case 'not':
      operands(c.item, out);
      break;
    case 'cmp':
      add(c.left);
      add(c.right);
      break;
    case 'test':
      add(c.operand);
  }
  return out;
}

const mentionsUser = (atom: Cond): boolean => operands(atom).some((o) => o.kind === 'path' && o.segs[0].name.toLowerCase() === 'user');

/** The resource types a branch is restricted to: resource.resourcetype = "X"; resource.objectType = ... means App.Object. */
export function branchTypes(branch: Cond[]): string[] {
  const types = new Set<string>();
  for (const a of branch) {
    if (a.kind !== 'cmp' || a.op === '!=') continue;
    for (const [p, v] of [[a.left, a.right], [a.right, a.left]] as const) {
      const key = pathKey(p);
      if (key === 'resource.resourcetype' && isLiteral(v)) types.add(literalValue(v));
      if (key === 'resource.objecttype') types.add('App.Object');
    }
  }
  return [...types];
}

/** A resource filter entry as a case-insensitive pattern over "<Type>_<id>" (`*` any text). */
export function filterRegex(entry: string): RegExp {
  return new RegExp(`^${entry.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/** True when the filter entry covers resources of the type. */
export function entryCovers(entry: string, type: string): boolean {
  return filterRegex(entry).test(`${type}_00000000-0000-0000-0000-000000000000`);
}

// True when a comparison is always true: the same operand on both sides, two equal literals, or `like "*"`.
function atomAlwaysTrue(a: Cond): boolean {
  if (a.kind !== 'cmp') return false;
  if (a.op === 'like' && isLiteral(a.right) && /^\*+$/.test(literalValue(a.right))) return true;
  if (a.op === '=' && isLiteral(a.left) && isLiteral(a.right)) return literalValue(a.left).toLowerCase() === literalValue(a.right).toLowerCase();
  if (a.op === '=' && a.left.kind === 'path' && a.right.kind === 'path') return operandText(a.left).toLowerCase() === operandText(a.right).toLowerCase();
  return false;
}

// A branch's description for messages: its resource types, else its text.
function branchLabel(b: Cond[]): string {
  const t = branchTypes(b);
  return t.length ? t.join('/') : b.map((x) => (x.kind === 'cmp' ? `${operandText(x.left)} ${x.op} ${operandText(x.right)}` : x.kind === 'test' ? operandText(x.operand) : '…')).join(' and ');
}

const list = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** Lint one rule (findings about it alone). */
export function lintRule(r: RuleFile, defs: CustomPropertyDef[] | undefined): Finding[] {
  const out: Finding[] = [];
  const text = conditionText(r.condition);
  const at = (offset: number) => lineCol(text, offset);
  const add = (code: string, severity: Severity, message: string, offset?: number) => out.push({ rule: r.name, code, severity, message, ...(offset !== undefined ? at(offset) : {}) });
  if (r.disabled) add('disabled', 'info', 'the rule is disabled: it grants nothing until it is enabled');
  let cond: Cond | undefined;
  try {
    cond = parseCondition(text);
  } catch (e) {
    if (!(e instanceof ConditionSyntaxError)) throw e;
    add('syntax', 'error', `syntax error: ${e.message}`, e.offset);
    return out;
  }
  if (!cond) {
    add('always-true', 'warning', 'the condition is empty: the rule grants its actions to every user on every resource of its filter');
    return out;
  }
  const known = defs ? new Set(defs.map((d) => d.name.toLowerCase())) : undefined;
  const walk = (c: Cond) => {
    if (c.kind === 'or' || c.kind === 'and') return c.items.forEach(walk);
    if (c.kind === 'not') return walk(c.item);
    if (c.kind === 'cmp' && c.op === '=') {
      for (const o of [c.left, c.right]) if (isLiteral(o) && literalValue(o).includes('*')) add('wildcard-equals', 'error', `${operandText(o)} has a wildcard (*) but the operator is =: a wildcard needs like (e.g. environment.browser like Chrome*)`, o.offset);
    }
  };
  walk(cond);
  for (const o of operands(cond)) {
    if (o.kind !== 'path') continue;
    for (const s of o.segs) {
      if (s.cp && known && !known.has(s.name.toLowerCase())) add('unknown-property', 'error', `custom property @${s.name} does not exist (not in custom-properties.json)`, o.offset);
      if (s.args && !FUNCTIONS.includes(s.name.toLowerCase())) add('unknown-function', 'error', `unknown function ${s.name}(): the rules use Empty(), HasPrivilege() and IsAnonymous()`, o.offset);
    }
  }
  const bs = branches(cond);
  // Resource types the branches test against the resource filter.
  const typed = bs.map((b) => ({ b, types: branchTypes(b) })).filter((x) => x.types.length);
  if (typed.length) {
    const tested = [...new Set(typed.flatMap((x) => x.types))];
    const uncovered = tested.filter((t) => !r.resourceFilter.some((e) => entryCovers(e, t)));
    const covered = tested.filter((t) => !uncovered.includes(t));
    if (uncovered.length) {
      const via = tested.includes('App.Object') && uncovered.includes('App.Object') && typed.some((x) => x.b.some((a) => a.kind === 'cmp' && [a.left, a.right].some((o) => pathKey(o) === 'resource.objecttype'))) ? ' (its condition tests resource.objectType, so it is about App.Object)' : '';
      add('filter-uncovered', 'error', `the resource filter (${r.resourceFilter.join(', ')}) does not cover ${list(uncovered)}${via}: ${uncovered.length > 1 ? 'those branches never apply' : 'that part of the condition never applies'}`);
    }
    // Entries for no tested type; only when filter and condition overlap at all (otherwise filter-uncovered says it).
    if (covered.length) {
      const unmatched = r.resourceFilter.filter((e) => !tested.some((t) => entryCovers(e, t)) && !bs.some((b) => branchTypes(b).length === 0));
      if (unmatched.length) add('filter-unmatched', 'warning', `resource filter entries ${list(unmatched)} match no branch of the condition (it tests only ${list(tested)})`);
    }
  }
  const noUser = bs.filter((b) => !b.some(mentionsUser));
  if (noUser.length) {
    add('no-user-term', 'warning', `${noUser.length === 1 ? 'a branch' : `${noUser.length} branches`} (${list(noUser.map(branchLabel))}) ${noUser.length === 1 ? 'has' : 'have'} no user term: every user gets ${list(r.actions)} on ${noUser.length === 1 ? 'it' : 'them'}`);
  }
  const always = bs.filter((b) => b.length === 0 || b.every(atomAlwaysTrue));
  if (always.length) add('always-true', 'warning', `the condition is always true (${list(always.map(branchLabel))}): the rule grants ${list(r.actions)} on every resource of its filter`);
  return out;
}

/** Lint a set of rules: each rule, and redundancy between rules. */
export function lintRules(rules: RuleFile[], defs: CustomPropertyDef[] | undefined): Finding[] {
  const out = rules.flatMap((r) => lintRule(r, defs));
  const norm = (r: RuleFile) => conditionLines(conditionText(r.condition)).join(' ').toLowerCase(); // printed alike = the same condition
  for (const r of rules) {
    if (r.disabled) continue;
    const other = rules.find(
      (o) => o !== r && !o.disabled && norm(o) === norm(r) && (o.context === 'both' || o.context === r.context)
        && r.actions.every((a) => o.actions.includes(a)) && r.resourceFilter.every((e) => o.resourceFilter.some((x) => x.toLowerCase() === e.toLowerCase() || filterRegex(x).test(e)))
        && !(o.actions.length === r.actions.length && o.resourceFilter.length === r.resourceFilter.length && o.name > r.name), // of two identical rules, report one
    );
    if (other) out.push({ rule: r.name, code: 'redundant', severity: 'warning', message: `rule "${other.name}" already grants everything this rule grants (same condition, ${list(r.actions)} on ${r.resourceFilter.join(', ')})` });
  }
  return out;
}
