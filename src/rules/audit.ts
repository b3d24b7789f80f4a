// Evaluate a set of security rules for one user: which actions the user may take on each resource, and which rule
// grants each. Only the rules given are evaluated: a site's default rules count only when they were exported
// (qsadmin rules export --include-defaults). Rules only grant; an action is allowed when any enabled rule whose
// resource filter covers the resource has a condition that is true for the user and the resource.
//
// Values are lists: user.group holds every group of the user, resource.@X every value of custom property X, and
// `=` between two lists is true when they share a value (seed 004: "contains"). Comparisons ignore case; `like`
// takes `*` as any text. Emulator-free assumptions, labelled: user.IsAnonymous() is false for a named user;
// environment.* is unknown (empty) here, as it needs the proxy's extended security environment at request time.
import { ConditionSyntaxError, isLiteral, literalValue, parseCondition, type Cond, type Operand, type Segment } from './parser.js';
import { ACTIONS, conditionText, type Action, type RuleFile, type RuleSet } from './model.js';
import { filterRegex } from './lint.js';

export interface AuditUser {
  userDirectory: string;
  userId: string;
  groups: string[];
  roles?: string[];
  anonymous?: boolean;
}

export interface AuditResource {
  type: 'Stream' | 'DataConnection' | 'App';
  name: string;
  /** The value of resource filters' "<Type>_<id>" (a folder has no ids: the name stands in). */
  filterKey: string;
  values: Record<string, string[]>;
  stream?: AuditResource | null;
  /** A resource that does not exist yet: what Create is evaluated on. */
  isNew?: boolean;
}

export interface Grant {
  action: Action;
  rules: string[];
}

export interface AuditRow {
  type: string;
  name: string;
  grants: Grant[];
}

interface Compiled {
  rule: RuleFile;
  cond: Cond | undefined;
  filters: RegExp[];
}

// Values of a path for the user and the resource (lower-case), undefined for a call that is evaluated elsewhere.
class Evaluator {
  private depth = 0;
  constructor(
    private readonly rules: Compiled[],
    private readonly user: AuditUser,
  ) {}

  /** The rules (names) that grant `action` on the resource. */
  granting(res: AuditResource, action: Action): string[] {
    const bit = ACTIONS.indexOf(action);
    return this.rules
      .filter((c) => !c.rule.disabled && c.rule.actions.includes(ACTIONS[bit]) && c.filters.some((f) => f.test(`${res.type}_${res.filterKey}`)) && this.test(c.cond, res))
      .map((c) => c.rule.name);
  }

  private test(c: Cond | undefined, res: AuditResource): boolean {
    if (!c) return true;
    switch (c.kind) {
      case 'or':
        return c.items.some((x) => this.test(x, res));
      case 'and':
        return c.items.every((x) => this.test(x, res));
      case 'not':
        return !this.test(c.item, res);
      case 'test':
        return this.values(c.operand, res).some((v) => v === 'true');
      case 'cmp': {
        const l = this.values(c.left, res);
        const r = this.values(c.right, res);
        if (c.op === 'like') return l.some((a) => r.some((p) => filterRegex(p).test(a)));
        const eq = l.some((a) => r.includes(a));
        return c.op === '=' ? eq : !eq;
      }
    }
  }

  private values(o: Operand, res: AuditResource): string[] {
    if (isLiteral(o)) return [literalValue(o).toLowerCase()];
    if (o.kind !== 'path') return [];
    const segs = o.segs;
    const root = segs[0].name.toLowerCase();
    if (root === 'user') return this.userValues(segs.slice(1));
    if (root === 'resource') return this.resourceValues(res, segs.slice(1));
    return []; // environment.*: not known outside a request
  }

  private userValues(segs: Segment[]): string[] {
    const u = this.user;
    if (segs.length !== 1) return [];
    const s = segs[0];
    const n = s.name.toLowerCase();
    if (s.args) return n === 'isanonymous' ? [String(Boolean(u.anonymous))] : [];
    const lower = (xs: string[]) => xs.map((x) => x.toLowerCase());
    if (s.cp) return [];
    switch (n) {
      case 'group':
        return lower(u.groups);
      case 'roles':
        return lower(u.roles ?? []);
      case 'userid':
        return [u.userId.toLowerCase()];
      case 'userdirectory':
        return [u.userDirectory.toLowerCase()];
      case 'name':
        return [u.userId.toLowerCase()];
      default:
        return [];
    }
  }

  private resourceValues(res: AuditResource | null | undefined, segs: Segment[]): string[] {
    if (segs.length === 0) return res ? ['true'] : [];
    const [s, ...rest] = segs;
    const n = s.name.toLowerCase();
    if (s.args) {
      if (n === 'empty') return [String(!res)];
      if (n === 'hasprivilege') {
        const arg = s.args[0];
        const want = arg && isLiteral(arg) ? literalValue(arg).toLowerCase() : 'read';
        const action = ACTIONS.find((a) => a.toLowerCase() === want);
        if (!res || !action || this.depth > 4) return ['false'];
        this.depth++;
        try {
          return [String(this.granting(res, action).length > 0)];
        } finally {
          this.depth--;
        }
      }
      return [];
    }
    if (!res) return [];
    if (s.cp) return rest.length ? [] : (Object.entries(res.values).find(([k]) => k.toLowerCase() === n)?.[1] ?? []).map((v) => v.toLowerCase());
    if (n === 'stream') return this.resourceValues(res.type === 'App' ? (res.stream ?? null) : null, rest);
    if (n === 'app') return this.resourceValues(res.type === 'App' ? res : null, rest);
    if (rest.length) return [];
    if (n === 'name') return [res.name.toLowerCase()];
    if (n === 'resourcetype') return [res.type.toLowerCase()];
    return [];
  }
}

/** The resources of a set: its streams, data connections and apps (with their values), and a new one of each type. */
export function resourcesOf(set: RuleSet): AuditResource[] {
  const streams = new Map<string, AuditResource>();
  for (const s of set.values.streams) streams.set(s.name.toLowerCase(), { type: 'Stream', name: s.name, filterKey: s.name, values: s.values });
  const out: AuditResource[] = [...streams.values()];
  for (const d of set.values.dataConnections) out.push({ type: 'DataConnection', name: d.name, filterKey: d.name, values: d.values });
  for (const a of set.values.apps) {
    const stream = a.stream ? (streams.get(a.stream.toLowerCase()) ?? { type: 'Stream' as const, name: a.stream, filterKey: a.stream, values: {} }) : null;
    out.push({ type: 'App', name: a.name, filterKey: a.name, values: a.values, stream });
  }
  for (const type of ['Stream', 'DataConnection', 'App'] as const) out.push({ type, name: `(new ${type})`, filterKey: '(new)', values: {}, stream: null, isNew: true });
  return out;
}

export interface AuditOptions {
  /** Only resources this filter entry covers, e.g. Stream_* (comma-separated entries). */
  resource?: string;
  /** Only this action. */
  action?: Action;
  /** Told the rules whose condition does not parse (they grant nothing; qsadmin rules lint shows why). */
  onUnparsed?: (names: string[]) => void;
}

/** Evaluate the set's rules for the user: one row per resource with the actions granted and by which rules. */
export function audit(set: RuleSet, user: AuditUser, o: AuditOptions = {}): AuditRow[] {
  const compiled: Compiled[] = [];
  const unparsed: string[] = [];
  for (const rule of set.rules) {
    try {
      compiled.push({ rule, cond: parseCondition(conditionText(rule.condition)), filters: rule.resourceFilter.map(filterRegex) });
    } catch (e) {
      if (!(e instanceof ConditionSyntaxError)) throw e;
      unparsed.push(rule.name); // grants nothing, as QRS would not accept it; the caller reports it
    }
  }
  o.onUnparsed?.(unparsed);
  const ev = new Evaluator(compiled, user);
  const only = o.resource ? o.resource.split(',').map((s) => filterRegex(s.trim())) : undefined;
  const rows: AuditRow[] = [];
  for (const res of resourcesOf(set)) {
    if (only && !only.some((f) => f.test(`${res.type}_${res.filterKey}`) || f.test(`${res.type}_${res.name}`))) continue;
    // Create is about resources to be made; the other actions about existing ones.
    const actions = (o.action ? [o.action] : [...ACTIONS]).filter((a) => (res.isNew ? a === 'Create' : a !== 'Create'));
    const grants = actions.map((action) => ({ action, rules: ev.granting(res, action) })).filter((g) => g.rules.length);
    if (actions.length) rows.push({ type: res.type, name: res.name, grants });
  }
  return rows;
}
