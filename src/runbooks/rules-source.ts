// Where rule sets come from: a live site (QRS on the central node, client certificate from its ProgramData), an
// export folder, or a backup set (the QSR tables read out of its dump without restoring it, as restore app does).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readQsrTables, SetReader, type Rows } from '../backup/app-catalog.js';
import type { Host } from '../host/types.js';
import type { QrsClient } from '../qrs/client.js';
import { centralQrs } from '../qrs/central.js';
import { InputError } from '../runbook/errors.js';
import { definitionOf, isExportFolder, readSet, ruleSetOf, valuesOf, type RuleEntity, type RuleSet, type SelectOptions, type SourceObject } from '../rules/model.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, type SiteConfig } from '../site/model.js';
import { requireElevated } from './operator-checks.js';

/** A QRS connection to a site's central node, with what it holds open. */
export interface LiveSite {
  site: SiteConfig;
  qrs: QrsClient;
  close(): Promise<void>;
}

/** Open QRS on the central node with its client certificate (src/qrs/central.ts); checks elevation first. */
export async function openLiveSite(sitePath: string, what: string): Promise<LiveSite> {
  const site = loadSiteConfig(sitePath);
  const central = centralNode(site);
  const { openHost } = await import('../host/index.js');
  let host: Host | undefined;
  try {
    host = await openHost(site, central.name);
    const h = host;
    await requireElevated(async () => h, [central], what);
    const qrs = await centralQrs(site, h);
    return {
      site,
      qrs,
      close: async () => {
        qrs.close();
        await h.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await host?.close().catch(() => undefined);
    throw e;
  }
}

/** A system rule as QRS returns it. */
export interface QrsRule extends RuleEntity {
  id: string;
  modifiedDate: string;
}

export interface QrsObject {
  id: string;
  name: string;
  modifiedDate: string;
  stream?: { id: string; name: string } | null;
  customProperties: Array<{ value: string; definition: { id: string; name: string } }>;
}

export interface QrsDefinition {
  id: string;
  name: string;
  modifiedDate: string;
  description: string;
  valueType: string;
  choiceValues: string[];
  objectTypes: string[];
}

/** Everything the rules commands read from a live site. */
export interface LiveState {
  rules: QrsRule[];
  definitions: QrsDefinition[];
  objects: { streams: QrsObject[]; dataConnections: QrsObject[]; apps: QrsObject[] };
}

/** Read the rules, definitions and objects from QRS. */
export async function readLive(qrs: QrsClient): Promise<LiveState> {
  const [rules, definitions, streams, dataConnections, apps] = await Promise.all([
    qrs.get<QrsRule[]>('/qrs/systemrule/full'),
    qrs.get<QrsDefinition[]>('/qrs/custompropertydefinition/full'),
    qrs.get<QrsObject[]>('/qrs/stream/full'),
    qrs.get<QrsObject[]>('/qrs/dataconnection/full'),
    qrs.get<QrsObject[]>('/qrs/app/full'),
  ]);
  return { rules, definitions, objects: { streams, dataConnections, apps } };
}

/** The rule set of a live site's state. */
export function liveRuleSet(s: LiveState, o: SelectOptions): ReturnType<typeof ruleSetOf> {
  const objects: SourceObject[] = [];
  for (const kind of ['streams', 'dataConnections', 'apps'] as const) {
    for (const x of s.objects[kind]) {
      objects.push({ kind, name: x.name, ...(kind === 'apps' ? { stream: x.stream?.name ?? null } : {}), values: valuesOf(x.customProperties.map((c) => ({ definition: c.definition.name, value: c.value }))) });
    }
  }
  return ruleSetOf(s.rules, s.definitions.map(definitionOf), objects, o);
}

const TABLES = ['SystemRules', 'CustomPropertyDefinitions', 'CustomPropertyValues', 'Streams', 'DataConnections', 'Apps'];

/** The rule set a backup set holds (its QSR tables, read from the dump without restoring it). */
export async function backupRuleSet(setPath: string, o: SelectOptions): Promise<ReturnType<typeof ruleSetOf>> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-rules-'));
  let t: Record<string, Rows>;
  try {
    const reader = await SetReader.open(setPath, scratch);
    try {
      t = await readQsrTables(reader, TABLES);
    } finally {
      reader.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const rules: RuleEntity[] = t.SystemRules.map((r) => ({
    name: r.Name ?? '',
    rule: r.Rule ?? '',
    resourceFilter: r.ResourceFilter ?? '',
    actions: Number(r.Actions ?? 0),
    category: r.Category ?? '',
    type: r.Type ?? 'Custom',
    disabled: r.Disabled === 't',
    comment: r.Comment ?? '',
    ruleContext: Number(r.RuleContext ?? 0),
    seedId: r.SeedId,
  }));
  const defs = new Map(t.CustomPropertyDefinitions.map((d) => [d.ID, d]));
  const valuesFor = (id: string | null) =>
    valuesOf(t.CustomPropertyValues.filter((v) => v.ObjectID === id && v.DefinitionID && defs.has(v.DefinitionID)).map((v) => ({ definition: defs.get(v.DefinitionID!)!.Name ?? '', value: v.Value ?? '' })));
  const streamName = new Map(t.Streams.map((s) => [s.ID, s.Name ?? '']));
  const objects: SourceObject[] = [
    ...t.Streams.map((s) => ({ kind: 'streams' as const, name: s.Name ?? '', values: valuesFor(s.ID) })),
    ...t.DataConnections.map((s) => ({ kind: 'dataConnections' as const, name: s.Name ?? '', values: valuesFor(s.ID) })),
    ...t.Apps.map((a) => ({ kind: 'apps' as const, name: a.Name ?? '', stream: a.StreamID ? (streamName.get(a.StreamID) ?? null) : null, values: valuesFor(a.ID) })),
  ];
  const definitions = t.CustomPropertyDefinitions.map((d) => definitionOf({ name: d.Name ?? '', description: d.Description, valueType: d.ValueType, choiceValues: d.ChoiceValues, objectTypes: d.ObjectTypes }));
  return ruleSetOf(rules, definitions, objects, o);
}

export type SourceKind = 'site' | 'folder' | 'backup';

/** What a diff/audit argument names: a site config (.json file), an export folder (rules/), or a backup set. */
export function sourceKind(ref: string): SourceKind {
  const p = path.resolve(ref);
  if (!fs.existsSync(p)) throw new InputError(`${ref} does not exist`, 'give a site config (site.json), an export folder (qsadmin rules export --to) or a backup set (folder or .tar)');
  const st = fs.statSync(p);
  if (st.isFile() && p.endsWith('.tar')) return 'backup';
  if (st.isFile()) return 'site';
  if (isExportFolder(p)) return 'folder';
  if (fs.existsSync(path.join(p, 'manifest.json'))) return 'backup';
  throw new InputError(`${ref} is neither an export folder (no rules/) nor a backup set (no manifest.json)`, 'give a site config (site.json), an export folder or a backup set');
}

/** Load a rule set from any source. */
export async function loadRuleSet(ref: string, o: SelectOptions): Promise<{ set: RuleSet; kind: SourceKind; label: string }> {
  const kind = sourceKind(ref);
  const label = `${kind} ${ref}`;
  if (kind === 'folder') return { set: readSet(path.resolve(ref)), kind, label };
  if (kind === 'backup') return { set: await backupRuleSet(path.resolve(ref), o), kind, label };
  const live = await openLiveSite(path.resolve(ref), 'qsadmin rules');
  try {
    return { set: liveRuleSet(await readLive(live.qrs), o), kind, label: `site ${live.site.name}` };
  } finally {
    await live.close();
  }
}
