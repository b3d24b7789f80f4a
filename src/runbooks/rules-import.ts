// `qsadmin rules import DIR`: make the site's security rules, custom property definitions and custom property values
// match an export folder, through QRS on the central node, with every service running.
//
// Steps: a safety copy of what the site has now (an export with every default rule, plus the raw QRS entities,
// read back and compared) → custom property definitions created or updated by name → values set on the streams,
// data connections and apps the folder names → rules created or updated (default rules by seed id, others by name)
// → with --prune, custom security rules the folder does not have are deleted (never default rules, never licence or
// sync rules). Every PUT carries the entity's current modifiedDate (QRS answers 409 to a stale one: the step reads
// again and resends). Each step works out what is still to do from the site itself, so a resumed run (after kill -9)
// does only the rest and ends as an uninterrupted run would.
import fs from 'node:fs';
import path from 'node:path';
import { QrsClient, QrsError } from '../qrs/client.js';
import { InputError } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { diffSets, formatChanges } from '../rules/diff.js';
import { lintRules } from '../rules/lint.js';
import { canonical, conditionText, maskOf, normalizedRule, readSet, renderSet, ruleFileOf, writeSet, CONTEXTS, VALUE_KINDS, type CustomPropertyDef, type RuleFile, type RuleSet } from '../rules/model.js';
import type { BuildEnv } from './registry.js';
import { liveRuleSet, openLiveSite, readLive, type LiveSite, type LiveState, type QrsObject, type QrsRule } from './rules-source.js';
import { siteLockKey } from './service-steps.js';

export interface RulesImportInputs {
  sitePath: string;
  /** The export folder. */
  dir: string;
  /** Delete custom security rules that are not in the folder. */
  prune?: boolean;
}

interface ImportContext extends StepContext {
  qrs(): Promise<QrsClient>;
}

const QRS_PATH = { streams: 'stream', dataConnections: 'dataconnection', apps: 'app' } as const;

// The site rule a folder rule updates: by seed id (default rules), else a custom security rule of that name, else any security rule of that name.
function matchRule(f: RuleFile, site: QrsRule[]): QrsRule | undefined {
  if (f.seedId) return site.find((r) => r.seedId === f.seedId);
  const sec = site.filter((r) => r.category.toLowerCase() === f.category.toLowerCase() && r.name.toLowerCase() === f.name.toLowerCase());
  return sec.find((r) => r.type.toLowerCase() === 'custom') ?? sec[0];
}

// The QRS body fields of a folder rule.
function ruleBody(f: RuleFile): Record<string, unknown> {
  return {
    name: f.name,
    rule: conditionText(normalizedRule(f).condition), // as an export writes it: one line per or-branch
    resourceFilter: f.resourceFilter.join(', '),
    actions: maskOf(f.actions),
    category: f.category,
    ruleContext: CONTEXTS.indexOf(f.context),
    disabled: f.disabled,
    comment: f.description,
  };
}

// True when the site rule already is what the file says (compared in file form, seed id aside).
function sameRule(site: QrsRule, f: RuleFile): boolean {
  const { seedId: _a, ...x } = ruleFileOf(site);
  const { seedId: _b, ...y } = normalizedRule(f);
  void _a;
  void _b;
  return JSON.stringify(x) === JSON.stringify(y);
}

const sameDef = (site: { description: string; valueType: string; choiceValues: string[]; objectTypes: string[] }, f: CustomPropertyDef) =>
  (site.description ?? '') === f.description && site.valueType === f.valueType && JSON.stringify(site.choiceValues) === JSON.stringify(f.choiceValues) && JSON.stringify([...site.objectTypes].sort()) === JSON.stringify([...f.objectTypes].sort());

// A value map in canonical order, for comparison.
const valueText = (v: Record<string, string[]>) => JSON.stringify(Object.keys(v).filter((k) => v[k].length).sort().map((k) => [k.toLowerCase(), [...v[k]].sort()]));

function siteValues(o: QrsObject): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of o.customProperties) (out[c.definition.name] ??= []).push(c.value);
  return out;
}

/** What the import still has to do on the site, worked out from the site's current state. */
export interface ImportWork {
  definitions: Array<{ def: CustomPropertyDef; id?: string }>;
  values: Array<{ kind: keyof typeof QRS_PATH; id: string; label: string; values: Record<string, string[]> }>;
  missingObjects: string[];
  rules: Array<{ file: RuleFile; id?: string }>;
  prune: QrsRule[];
}

export function importWork(state: LiveState, set: RuleSet, prune: boolean): ImportWork {
  const definitions = set.definitions
    .map((def) => ({ def, site: state.definitions.find((d) => d.name.toLowerCase() === def.name.toLowerCase()) }))
    .filter((x) => !x.site || !sameDef(x.site, x.def))
    .map((x) => ({ def: x.def, id: x.site?.id }));
  const values: ImportWork['values'] = [];
  const missingObjects: string[] = [];
  for (const [kind, type] of VALUE_KINDS) {
    for (const o of set.values[kind]) {
      const label = `${type} "${o.name}"${kind === 'apps' ? ` in ${o.stream ? `stream "${o.stream}"` : 'no stream'}` : ''}`;
      const found = state.objects[kind].filter((x) => x.name.toLowerCase() === o.name.toLowerCase() && (kind !== 'apps' || (x.stream?.name ?? null)?.toLowerCase() === (o.stream ?? null)?.toLowerCase()));
      if (found.length !== 1) {
        missingObjects.push(`${label}: ${found.length ? `${found.length} objects have that name` : 'not on the site'}`);
        continue;
      }
      if (valueText(siteValues(found[0])) !== valueText(o.values)) values.push({ kind, id: found[0].id, label, values: o.values });
    }
  }
  const rules = set.rules.map((file) => ({ file, site: matchRule(file, state.rules) })).filter((x) => !x.site || !sameRule(x.site, x.file)).map((x) => ({ file: x.file, id: x.site?.id }));
  const matched = new Set(set.rules.map((f) => matchRule(f, state.rules)?.id).filter(Boolean));
  const toPrune = prune ? state.rules.filter((r) => r.type.toLowerCase() === 'custom' && r.category.toLowerCase() === 'security' && !matched.has(r.id)) : [];
  return { definitions, values, missingObjects, rules, prune: toPrune };
}

// PUT with the entity's current modifiedDate; on 409 (changed in between) read it again and resend, up to 3 times.
async function putCurrent(qrs: QrsClient, p: string, body: Record<string, unknown>, log: (m: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await qrs.get<{ modifiedDate: string }>(p);
    try {
      await qrs.put(p, { ...body, modifiedDate: current.modifiedDate });
      return;
    } catch (e) {
      if (!(e instanceof QrsError && e.status === 409) || attempt >= 3) throw e;
      log(`${p} changed while it was updated (409): read again`);
    }
  }
}

// Check a folder before anything is planned: it parses, names are unique, values fit their definitions.
function checkFolder(set: RuleSet & { files: string[] }, state: LiveState, dir: string): void {
  const errors = lintRules(set.rules, undefined).filter((f) => f.code === 'syntax');
  if (errors.length) throw new InputError(`${errors.length} rule${errors.length > 1 ? 's' : ''} in ${dir} do not parse: ${errors.map((e) => `${e.rule} (line ${e.line}, column ${e.col}): ${e.message}`).join('; ')}`, `fix them first: qsadmin rules lint ${dir}`);
  const seen = new Map<string, string>();
  for (const r of set.rules) {
    const key = r.seedId ? `seed ${r.seedId}` : `name ${r.name.toLowerCase()}`;
    if (seen.has(key)) throw new InputError(`two rules in ${dir} have the same ${r.seedId ? 'seed id' : 'name'}: "${seen.get(key)}" and "${r.name}"`, 'give every custom rule a unique name; a default rule appears once');
    seen.set(key, r.name);
    if (r.seedId && !state.rules.some((s) => s.seedId === r.seedId)) throw new InputError(`rule "${r.name}" in ${dir} is a default rule (seed id ${r.seedId}) that the site does not have`, 'remove its seedId to create it as a custom rule, or leave it out');
  }
  for (const [kind, type] of VALUE_KINDS) {
    for (const o of set.values[kind]) {
      for (const [name, vals] of Object.entries(o.values)) {
        const def = set.definitions.find((d) => d.name.toLowerCase() === name.toLowerCase()) ?? state.definitions.find((d) => d.name.toLowerCase() === name.toLowerCase());
        if (!def) throw new InputError(`values.json: ${type} "${o.name}" has a value of ${name}, which is neither in custom-properties.json nor on the site`, 'add the definition to custom-properties.json');
        if (!def.objectTypes.includes(type)) throw new InputError(`values.json: custom property ${name} does not apply to ${type} (its object types: ${def.objectTypes.join(', ') || 'none'})`, `add ${type} to its objectTypes in custom-properties.json`);
        const bad = vals.filter((v) => def.choiceValues.length && !def.choiceValues.includes(v));
        if (bad.length) throw new InputError(`values.json: ${type} "${o.name}": ${bad.map((v) => `"${v}"`).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not among the choice values of ${name} (${def.choiceValues.join(', ')})`, 'add the value to choiceValues in custom-properties.json, or fix the value');
      }
    }
  }
}

// Step: the safety copy of the site's rules, definitions and values, read back and compared before anything changes.
function safetyStep(category: string): Step<ImportContext> {
  const dirOf = (ctx: ImportContext) => path.join(ctx.runDir, 'before');
  return {
    id: 'rules-import.safety-copy',
    title: 'Keep a safety copy of the site\'s security rules, custom properties and values (an export with every default rule, and the raw QRS entities)',
    check: async (ctx) => ctx.outputs.get<string>('safety.dir') === dirOf(ctx) && fs.existsSync(path.join(dirOf(ctx), 'systemrules.json')),
    run: async (ctx) => {
      const state = await readLive(await ctx.qrs());
      const set = liveRuleSet(state, { category, includeDefaults: true });
      const dir = dirOf(ctx);
      fs.rmSync(dir, { recursive: true, force: true });
      writeSet(dir, set);
      const back = readSet(dir);
      const a = [...renderSet(set)].join('\n');
      const b = [...renderSet(back)].join('\n');
      if (a !== b) throw new Error(`the safety copy in ${dir} does not read back as written: nothing was changed on the site`);
      const raw = path.join(dir, 'systemrules.json');
      fs.writeFileSync(`${raw}.tmp`, JSON.stringify({ rules: state.rules, definitions: state.definitions }, null, 2) + '\n');
      fs.renameSync(`${raw}.tmp`, raw);
      ctx.outputs.set('safety.dir', dir);
      ctx.log(`safety copy: ${set.rules.length} rules, ${set.definitions.length} custom properties in ${dir} (read back and compared)`);
    },
  };
}

/** Build the import: reads the folder and the site, plans what changes; changes nothing. */
export async function buildRulesImport(inputs: RulesImportInputs, env: BuildEnv): Promise<Runbook<ImportContext>> {
  void env;
  const dir = path.resolve(inputs.dir);
  const set = readSet(dir);
  const category = 'Security';
  if (set.rules.some((r) => r.category.toLowerCase() !== 'security')) throw new InputError(`${dir} holds rules of category ${[...new Set(set.rules.map((r) => r.category))].join(', ')}`, 'rules import takes security rules only (licence and sync rules are left to the QMC)');
  let live: LiveSite | undefined = await openLiveSite(inputs.sitePath, 'qsadmin rules import');
  let notes: string[];
  try {
    const state = await readLive(live.qrs);
    checkFolder(set, state, dir);
    const work = importWork(state, set, !!inputs.prune);
    // The site side of the diff: its custom rules and the default rules the folder has (edited or not).
    const seeds = new Set(set.rules.map((r) => r.seedId).filter(Boolean));
    const full = liveRuleSet(state, { category, includeDefaults: true });
    const siteSet = { ...full, rules: full.rules.filter((r) => !r.seedId || seeds.has(r.seedId)) };
    const changes = diffSets(siteSet, canonical(set)).filter((c) => inputs.prune || !(c.what === 'rule' && c.change === 'removed'));
    notes = [
      `from ${dir}: ${set.rules.length} rules, ${set.definitions.length} custom properties, ${VALUE_KINDS.reduce((n, [k]) => n + set.values[k].length, 0)} objects with values`,
      `to do: ${work.definitions.length} custom properties, ${work.values.length} objects' values, ${work.rules.filter((r) => r.id).length} rules updated, ${work.rules.filter((r) => !r.id).length} created${inputs.prune ? `, ${work.prune.length} deleted (--prune)` : ''}`,
      ...(inputs.prune ? [] : ['site rules that the folder does not have are kept (--prune deletes the custom ones)']),
      ...work.missingObjects.map((m) => `not on the site, its values are skipped: ${m}`),
      'services keep running: QRS makes every change',
      ...formatChanges(changes, { a: `site ${live.site.name}`, b: dir }).split('\n'),
    ];
  } catch (e) {
    await live.close();
    throw e;
  }
  const qrs = async () => {
    live ??= await openLiveSite(inputs.sitePath, 'qsadmin rules import');
    return live.qrs;
  };
  const now = async (ctx: ImportContext) => importWork(await readLive(await ctx.qrs()), set, !!inputs.prune);
  const items: Step<ImportContext>[] = [
    safetyStep(category),
    {
      id: 'rules-import.definitions',
      title: 'Create or update the custom property definitions (by name)',
      check: async (ctx) => (await now(ctx)).definitions.length === 0,
      run: async (ctx) => {
        const q = await ctx.qrs();
        for (const { def, id } of (await now(ctx)).definitions) {
          const body = { name: def.name, description: def.description, valueType: def.valueType, choiceValues: def.choiceValues, objectTypes: def.objectTypes };
          if (id) await putCurrent(q, `/qrs/custompropertydefinition/${id}`, { id, ...body }, ctx.log);
          else await q.post('/qrs/custompropertydefinition', body);
          ctx.log(`custom property ${def.name} ${id ? 'updated' : 'created'}`);
        }
      },
    },
    {
      id: 'rules-import.values',
      title: 'Set the custom property values on the streams, data connections and apps the folder names',
      check: async (ctx) => (await now(ctx)).values.length === 0,
      run: async (ctx) => {
        const q = await ctx.qrs();
        const defs = await q.get<Array<{ id: string; name: string }>>('/qrs/custompropertydefinition/full');
        for (const v of (await now(ctx)).values) {
          const customProperties = Object.entries(v.values).flatMap(([name, vals]) => vals.map((value) => ({ value, definition: { id: defs.find((d) => d.name.toLowerCase() === name.toLowerCase())!.id } })));
          await putCurrent(q, `/qrs/${QRS_PATH[v.kind]}/${v.id}`, { id: v.id, customProperties }, ctx.log);
          ctx.log(`${v.label}: ${customProperties.length} values set`);
        }
        const missing = (await now(ctx)).missingObjects;
        ctx.outputs.set('missingObjects', missing);
      },
    },
    {
      id: 'rules-import.rules',
      title: 'Create or update the security rules (default rules by seed id, the others by name)',
      check: async (ctx) => (await now(ctx)).rules.length === 0,
      run: async (ctx) => {
        const q = await ctx.qrs();
        let created = ctx.outputs.get<number>('rules.created') ?? 0;
        let updated = ctx.outputs.get<number>('rules.updated') ?? 0;
        for (const { file, id } of (await now(ctx)).rules) {
          if (id) {
            await putCurrent(q, `/qrs/systemrule/${id}`, { id, ...ruleBody(file) }, ctx.log);
            ctx.outputs.set('rules.updated', ++updated);
          } else {
            await q.post('/qrs/systemrule', ruleBody(file));
            ctx.outputs.set('rules.created', ++created);
          }
          faultPoint('rules-import.rule:written'); // the crash test's window: one rule written, the next not yet
          ctx.log(`rule "${file.name}" ${id ? 'updated' : 'created'}`);
        }
      },
    },
  ];
  if (inputs.prune) {
    items.push({
      id: 'rules-import.prune',
      title: 'Delete the custom security rules that the folder does not have (never default, licence or sync rules)',
      destructive: true,
      check: async (ctx) => (await now(ctx)).prune.length === 0,
      run: async (ctx) => {
        const q = await ctx.qrs();
        let deleted = ctx.outputs.get<number>('rules.deleted') ?? 0;
        for (const r of (await now(ctx)).prune) {
          await q.delete(`/qrs/systemrule/${r.id}`);
          ctx.outputs.set('rules.deleted', ++deleted);
          ctx.log(`rule "${r.name}" (${r.id}) deleted; it is in the safety copy`);
        }
      },
    });
  }
  const close = async () => {
    await live?.close();
    live = undefined;
  };
  return {
    name: 'rules.import',
    site: inputs.sitePath,
    lockKey: siteLockKey(live.site),
    inputs: { ...inputs, dir },
    notes,
    items,
    context: (b: StepContext): ImportContext => ({ ...b, qrs }),
    report: (r) => {
      if (r.status !== 'succeeded') return '';
      const o = r.outputs ?? {};
      const missing = (o.missingObjects as string[] | undefined) ?? [];
      return [
        `the site now matches ${dir}: ${o['rules.created'] ?? 0} rules created, ${o['rules.updated'] ?? 0} updated${inputs.prune ? `, ${o['rules.deleted'] ?? 0} deleted` : ''}`,
        `safety copy of what the site had: ${o['safety.dir']}`,
        ...missing.map((m) => `values skipped, object not on the site: ${m}`),
      ].join('\n');
    },
    dispose: close,
    close,
  };
}
