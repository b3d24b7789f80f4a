// Security rules as files: the model an export writes and import, diff, lint and audit read, and how it is made from
// QRS entities (a live site) or QSR rows (a backup set). No ids and no dates, so that two sites' exports compare.
//
// Folder layout (JSON, two-space indent, keys in a fixed order, lists sorted, a newline at the end):
//   rules/<name>.json          one security rule
//   custom-properties.json     the custom property definitions
//   values.json                the custom property values on streams, data connections and apps (objects by name)
// JSON rather than YAML: stable key order needs no dependency, and a condition is kept readable as one line per
// `or` branch (an array of strings).
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../runbook/errors.js';
import { STOCK_RULES } from './defaults.js';
import { ConditionSyntaxError, parseCondition, prettyLines } from './parser.js';

/** Actions in bit order (reference/security-rules.md [API]: 1, 2, 4, ... 256). */
export const ACTIONS = ['Create', 'Read', 'Update', 'Delete', 'Export', 'Publish', 'Change owner', 'Change role', 'Export data'] as const;
export type Action = (typeof ACTIONS)[number];
/** ruleContext 0, 1, 2 (reference/security-rules.md [API]). */
export const CONTEXTS = ['both', 'hub', 'qmc'] as const;
export type RuleContext = (typeof CONTEXTS)[number];

export interface RuleFile {
  name: string;
  /** Only for default rules: the seed id that matches the rule on another site. */
  seedId?: string;
  description: string;
  category: string;
  resourceFilter: string[];
  actions: Action[];
  /** Pretty-printed: one line per top-level `or` branch; the raw text's lines when it does not parse. */
  condition: string[];
  context: RuleContext;
  disabled: boolean;
}

export interface CustomPropertyDef {
  name: string;
  description: string;
  valueType: string;
  choiceValues: string[];
  objectTypes: string[];
}

export interface ObjectValues {
  name: string;
  /** Apps only: the stream the app is published in (rules test resource.stream.*). */
  stream?: string | null;
  values: Record<string, string[]>;
}

export interface ValuesFile {
  streams: ObjectValues[];
  dataConnections: ObjectValues[];
  apps: ObjectValues[];
}

export interface RuleSet {
  rules: RuleFile[];
  definitions: CustomPropertyDef[];
  values: ValuesFile;
}

export const VALUE_KINDS = [
  ['streams', 'Stream'],
  ['dataConnections', 'DataConnection'],
  ['apps', 'App'],
] as const;

/** Actions from the bit mask. */
export function actionsOf(mask: number): Action[] {
  return ACTIONS.filter((_, i) => (mask & (1 << i)) !== 0);
}

/** The bit mask of actions. */
export function maskOf(actions: readonly string[]): number {
  let m = 0;
  for (const a of actions) {
    const i = ACTIONS.findIndex((x) => x.toLowerCase() === a.toLowerCase());
    if (i < 0) throw new InputError(`unknown action "${a}"`, `actions are: ${ACTIONS.join(', ')}`);
    m |= 1 << i;
  }
  return m;
}

/** The condition's file form: pretty-printed when it parses, its own lines otherwise (lint reports the error). */
export function conditionLines(text: string): string[] {
  try {
    return prettyLines(parseCondition(text));
  } catch (e) {
    if (e instanceof ConditionSyntaxError) return text.split('\n');
    throw e;
  }
}

/** The rule with its condition pretty-printed as an export writes it (a hand-written file may have it on one line). */
export function normalizedRule(r: RuleFile): RuleFile {
  return { ...r, condition: conditionLines(conditionText(r.condition)) };
}

/** The condition text QRS gets from the file form. */
export function conditionText(lines: readonly string[]): string {
  return lines.join('\n');
}

/** Resource filter entries from QRS's comma-separated text. */
export function filterEntries(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A rule as QRS or QSR hold it (normalised field names). */
export interface RuleEntity {
  id?: string;
  modifiedDate?: string;
  name: string;
  rule: string;
  resourceFilter: string;
  actions: number;
  category: string;
  type: string;
  disabled: boolean;
  comment: string;
  ruleContext: number;
  seedId: string | null;
}

/** The file form of a rule entity. */
export function ruleFileOf(e: RuleEntity): RuleFile {
  const isDefault = e.type.toLowerCase() !== 'custom';
  return {
    name: e.name,
    ...(isDefault && e.seedId ? { seedId: e.seedId } : {}),
    description: e.comment ?? '',
    category: e.category,
    resourceFilter: filterEntries(e.resourceFilter ?? ''),
    actions: actionsOf(Number(e.actions)),
    condition: conditionLines(e.rule ?? ''),
    context: CONTEXTS[Number(e.ruleContext)] ?? 'both',
    disabled: Boolean(e.disabled),
  };
}

/** True when a default rule differs from Qlik's stock version of it; undefined when the seed id is not a known one. */
export function editedDefault(e: RuleEntity): boolean | undefined {
  const s = STOCK_RULES.find((x) => x.seedId === e.seedId);
  if (!s) return undefined;
  const mine = ruleFileOf(e);
  const theirs = ruleFileOf({ ...e, name: s.name, rule: s.rule, resourceFilter: s.resourceFilter, actions: s.actions, ruleContext: s.ruleContext, disabled: false, comment: '' });
  return JSON.stringify(mine) !== JSON.stringify(theirs);
}

export interface SelectOptions {
  /** Category to export (default Security). */
  category?: string;
  /** Every default rule, not only the edited ones. */
  includeDefaults?: boolean;
}

/** Which rules an export keeps: the category's custom rules, and default rules that were edited (or all with includeDefaults). */
export function selectRules(all: RuleEntity[], o: SelectOptions): { rules: RuleEntity[]; skippedDefaults: number; unknownDefaults: string[] } {
  const cat = (o.category ?? 'Security').toLowerCase();
  const rules: RuleEntity[] = [];
  let skippedDefaults = 0;
  const unknownDefaults: string[] = [];
  for (const e of all) {
    if ((e.category ?? '').toLowerCase() !== cat) continue;
    if (e.type.toLowerCase() === 'custom' || o.includeDefaults) {
      rules.push(e);
      continue;
    }
    const edited = editedDefault(e);
    if (edited) rules.push(e);
    else if (edited === undefined) unknownDefaults.push(e.name);
    else skippedDefaults++;
  }
  return { rules, skippedDefaults, unknownDefaults };
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A rule set in canonical order (what makes two exports byte-identical). */
export function canonical(set: RuleSet): RuleSet {
  const sortValues = (list: ObjectValues[]) =>
    list
      .map((o) => ({ ...o, values: Object.fromEntries(Object.keys(o.values).sort().map((k) => [k, [...o.values[k]].sort()])) }))
      .sort((a, b) => byName(a, b) || String(a.stream ?? '').localeCompare(String(b.stream ?? '')));
  return {
    rules: [...set.rules].sort((a, b) => byName(a, b) || String(a.seedId ?? '').localeCompare(String(b.seedId ?? ''))),
    definitions: [...set.definitions].map((d) => ({ ...d, objectTypes: [...d.objectTypes].sort() })).sort(byName),
    values: { streams: sortValues(set.values.streams), dataConnections: sortValues(set.values.dataConnections), apps: sortValues(set.values.apps) },
  };
}

// One rule's JSON with keys in the file order.
function ruleJson(r: RuleFile): unknown {
  return {
    name: r.name,
    ...(r.seedId ? { seedId: r.seedId } : {}),
    description: r.description,
    category: r.category,
    resourceFilter: r.resourceFilter,
    actions: r.actions,
    condition: r.condition,
    context: r.context,
    disabled: r.disabled,
  };
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** A file name for a rule: its name with characters Windows refuses replaced; duplicates get -2, -3. */
export function ruleFileNames(rules: RuleFile[]): string[] {
  const used = new Set<string>();
  return rules.map((r) => {
    const base = r.name.replace(/[<>:"/\\|?*\x00-\x1f]/g, '_').replace(/[. ]+$/, '') || 'rule';
    let name = `${base}.json`;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}.json`;
    used.add(name.toLowerCase());
    return name;
  });
}

/** The files of a rule set: relative path → content. */
export function renderSet(set: RuleSet): Map<string, string> {
  const c = canonical(set);
  const out = new Map<string, string>();
  const names = ruleFileNames(c.rules);
  c.rules.forEach((r, i) => out.set(`rules/${names[i]}`, json(ruleJson(r))));
  out.set('custom-properties.json', json({ definitions: c.definitions.map((d) => ({ name: d.name, description: d.description, valueType: d.valueType, choiceValues: d.choiceValues, objectTypes: d.objectTypes })) }));
  const obj = (o: ObjectValues) => ({ name: o.name, ...(o.stream !== undefined ? { stream: o.stream } : {}), values: o.values });
  out.set('values.json', json({ streams: c.values.streams.map(obj), dataConnections: c.values.dataConnections.map(obj), apps: c.values.apps.map(obj) }));
  return out;
}

/** Write a rule set into a folder (rules/ is replaced: a rule that is gone must not stay behind as a file). */
export function writeSet(dir: string, set: RuleSet): string[] {
  const files = renderSet(set);
  fs.mkdirSync(path.join(dir, 'rules'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'rules'))) if (f.endsWith('.json') && !files.has(`rules/${f}`)) fs.rmSync(path.join(dir, 'rules', f));
  for (const [rel, text] of files) {
    const file = path.join(dir, ...rel.split('/'));
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return [...files.keys()];
}

// Read and parse one JSON file of a set, or a clear bad-input error naming it.
function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, 'give a folder that qsadmin rules export wrote');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file} is not valid JSON: ${(e as Error).message}`, 'fix the file (qsadmin rules export writes the expected form)');
  }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

// Check a rule file's fields; a wrong one is bad input naming the file and the field.
function checkRule(v: unknown, file: string): RuleFile {
  const bad = (field: string, want: string) => new InputError(`${file}: "${field}" must be ${want}`, 'see a file written by qsadmin rules export for the form');
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${file} does not hold a rule object`, 'see a file written by qsadmin rules export for the form');
  const r = v as Record<string, unknown>;
  if (typeof r.name !== 'string' || !r.name.trim()) throw bad('name', 'a non-empty string');
  if (r.seedId !== undefined && (typeof r.seedId !== 'string' || !/^[0-9a-f-]{36}$/i.test(r.seedId))) throw bad('seedId', 'a GUID (only default rules have one)');
  if (r.description !== undefined && typeof r.description !== 'string') throw bad('description', 'a string');
  if (r.category !== undefined && typeof r.category !== 'string') throw bad('category', 'a string (Security)');
  if (!isStrings(r.resourceFilter)) throw bad('resourceFilter', 'a list of strings, e.g. ["Stream_*", "DataConnection_*"]');
  if (!isStrings(r.actions)) throw bad('actions', `a list of action names (${ACTIONS.join(', ')})`);
  maskOf(r.actions);
  const condition = typeof r.condition === 'string' ? [r.condition] : r.condition;
  if (!isStrings(condition)) throw bad('condition', 'a list of lines (or one string)');
  const context = r.context ?? 'both';
  if (!CONTEXTS.includes(context as RuleContext)) throw bad('context', `one of ${CONTEXTS.join(', ')}`);
  if (r.disabled !== undefined && typeof r.disabled !== 'boolean') throw bad('disabled', 'true or false');
  return {
    name: r.name,
    ...(r.seedId ? { seedId: (r.seedId as string).toLowerCase() } : {}),
    description: (r.description as string) ?? '',
    category: (r.category as string) ?? 'Security',
    resourceFilter: r.resourceFilter,
    actions: actionsOf(maskOf(r.actions)),
    condition,
    context: context as RuleContext,
    disabled: Boolean(r.disabled),
  };
}

/** True when the folder looks like an export (a rules/ folder). */
export function isExportFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'rules')) && fs.statSync(path.join(dir, 'rules')).isDirectory();
}

/** Read an export folder; custom-properties.json and values.json are optional. Returns the files each rule came from. */
export function readSet(dir: string): RuleSet & { files: string[]; hasDefinitions: boolean } {
  if (!isExportFolder(dir)) throw new InputError(`${dir} is not a rules folder: it has no rules/ subfolder`, 'give a folder written by qsadmin rules export (rules/*.json, custom-properties.json, values.json)');
  const ruleFiles = fs.readdirSync(path.join(dir, 'rules')).filter((f) => f.endsWith('.json')).sort();
  const rules = ruleFiles.map((f) => checkRule(readJson(path.join(dir, 'rules', f)), path.join(dir, 'rules', f)));
  const cpFile = path.join(dir, 'custom-properties.json');
  const hasDefinitions = fs.existsSync(cpFile);
  let definitions: CustomPropertyDef[] = [];
  if (hasDefinitions) {
    const v = readJson(cpFile) as { definitions?: unknown };
    if (!Array.isArray(v?.definitions)) throw new InputError(`${cpFile}: "definitions" must be a list`, 'see a file written by qsadmin rules export for the form');
    definitions = v.definitions.map((d: Record<string, unknown>, i: number) => {
      if (typeof d?.name !== 'string' || !d.name) throw new InputError(`${cpFile}: definition ${i + 1} has no name`, 'each definition needs name, choiceValues and objectTypes');
      if (d.choiceValues !== undefined && !isStrings(d.choiceValues)) throw new InputError(`${cpFile}: ${d.name}: "choiceValues" must be a list of strings`, 'e.g. ["proj1_aud1", "proj1_dev"]');
      if (d.objectTypes !== undefined && !isStrings(d.objectTypes)) throw new InputError(`${cpFile}: ${d.name}: "objectTypes" must be a list of strings`, 'e.g. ["Stream", "DataConnection", "App"]');
      return { name: d.name, description: (d.description as string) ?? '', valueType: (d.valueType as string) ?? 'Text', choiceValues: (d.choiceValues as string[]) ?? [], objectTypes: (d.objectTypes as string[]) ?? [] };
    });
  }
  const valuesFile = path.join(dir, 'values.json');
  const values: ValuesFile = { streams: [], dataConnections: [], apps: [] };
  if (fs.existsSync(valuesFile)) {
    const v = readJson(valuesFile) as Record<string, unknown>;
    for (const [key] of VALUE_KINDS) {
      const list = v[key] ?? [];
      if (!Array.isArray(list)) throw new InputError(`${valuesFile}: "${key}" must be a list`, 'see a file written by qsadmin rules export for the form');
      values[key] = list.map((o: Record<string, unknown>) => {
        if (typeof o?.name !== 'string') throw new InputError(`${valuesFile}: an entry of ${key} has no name`, 'each entry is { "name": ..., "values": { "<property>": ["<value>"] } }');
        const vals = (o.values ?? {}) as Record<string, unknown>;
        for (const [k, x] of Object.entries(vals)) if (!isStrings(x)) throw new InputError(`${valuesFile}: ${key} "${o.name}": values of ${k} must be a list of strings`, 'e.g. "GroupAccess": ["proj1_aud1"]');
        return { name: o.name, ...(key === 'apps' ? { stream: (o.stream as string | null) ?? null } : {}), values: vals as Record<string, string[]> };
      });
    }
  }
  return { ...canonical({ rules, definitions, values }), files: ruleFiles, hasDefinitions };
}

/** Definitions from QRS entities or QSR rows (choice values and object types as lists, or comma-separated text). */
export function definitionOf(d: { name: string; description?: string | null; valueType?: string | null; choiceValues?: unknown; objectTypes?: unknown }): CustomPropertyDef {
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
  return { name: d.name, description: d.description ?? '', valueType: d.valueType ?? 'Text', choiceValues: list(d.choiceValues), objectTypes: list(d.objectTypes) };
}

/** Group values by property name. */
export function valuesOf(cps: Array<{ definition: string; value: string }>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of cps) (out[c.definition] ??= []).push(c.value);
  return out;
}

/** An object with custom property values as a source holds it. */
export interface SourceObject {
  kind: 'streams' | 'dataConnections' | 'apps';
  name: string;
  stream?: string | null;
  values: Record<string, string[]>;
}

/**
 * The rule set of a site (live or backed up): the selected rules, every definition, and the objects that carry values,
 * plus the apps published in a stream that carries values (rules such as resource.stream.@X apply to them).
 */
export function ruleSetOf(rules: RuleEntity[], defs: CustomPropertyDef[], objects: SourceObject[], o: SelectOptions): RuleSet & { skippedDefaults: number; unknownDefaults: string[] } {
  const sel = selectRules(rules, o);
  const has = (x: SourceObject) => Object.keys(x.values).length > 0;
  const streamsWithValues = new Set(objects.filter((x) => x.kind === 'streams' && has(x)).map((x) => x.name.toLowerCase()));
  const values: ValuesFile = { streams: [], dataConnections: [], apps: [] };
  for (const x of objects) {
    if (!(has(x) || (x.kind === 'apps' && x.stream && streamsWithValues.has(x.stream.toLowerCase())))) continue;
    values[x.kind].push({ name: x.name, ...(x.kind === 'apps' ? { stream: x.stream ?? null } : {}), values: x.values });
  }
  return { ...canonical({ rules: sel.rules.map(ruleFileOf), definitions: defs, values }), skippedDefaults: sel.skippedDefaults, unknownDefaults: sel.unknownDefaults };
}
