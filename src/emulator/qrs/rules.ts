// The security-rule endpoints of the emulated QRS (reference/security-rules.md [API]): /qrs/systemrule (GET, POST,
// PUT with the current modifiedDate or 409, DELETE), /qrs/custompropertydefinition (GET, POST, PUT), and custom
// property values on /qrs/stream and /qrs/dataconnection (GET, PUT; apps are in apps.ts). Backed by the QSR tables
// SystemRules, CustomPropertyDefinitions, CustomPropertyValues, Streams and DataConnections.
//
// Refusals as QRS refuses: an unknown id (404), a stale or missing modifiedDate (409 / 400), a value that is not one
// of the property's choices or a property that does not apply to the object type (400). Emulator assumptions,
// labelled: a condition that does not parse is refused with 400 (QMC shows it as a syntax error and will not save
// it); a default rule cannot be deleted (400; it can be edited or disabled); `?filter=` takes `<field> eq '<value>'`
// clauses joined by `and`.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConditionSyntaxError, parseCondition } from '../../rules/parser.js';
import { AppHttpError } from './apps.js';
import type { Qsr } from './qsr.js';

export interface RulesCall {
  qsr: Qsr;
  user: { userDirectory: string; userId: string };
  method: string;
  /** Lower-cased path. */
  path: string;
  query: URLSearchParams;
  req: IncomingMessage;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const fail = (status: number, message: string) => new AppHttpError(status, message);

// Read a JSON object body.
async function jsonBody(req: IncomingMessage, what: string): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw fail(400, `the body is not a JSON ${what} entity: ${(e as Error).message}`);
  }
}

const list = (v: string | null): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

// `?filter=category eq 'Security' and type eq 'Custom'` → a predicate over the entity (case-insensitive values).
function filterOf(q: URLSearchParams): (e: Record<string, unknown>) => boolean {
  const f = q.get('filter');
  if (!f) return () => true;
  const clauses = f.split(/\s+and\s+/i).map((c) => {
    const m = /^\s*([A-Za-z]+)\s+eq\s+'([^']*)'\s*$/.exec(c);
    if (!m) throw fail(400, `filter "${c}" is not understood: the emulated QRS takes <field> eq '<value>' joined by and`);
    return [m[1].toLowerCase(), m[2].toLowerCase()] as const;
  });
  return (e) => clauses.every(([k, v]) => {
    const key = Object.keys(e).find((x) => x.toLowerCase() === k);
    return key !== undefined && String(e[key]).toLowerCase() === v;
  });
}

// The modifiedDate check every PUT makes: the body's must be the row's current one (milliseconds), else 409.
async function checkModified(qsr: Qsr, table: string, id: string, body: Record<string, unknown>, what: string): Promise<void> {
  if (typeof body.modifiedDate !== 'string') throw fail(400, `modifiedDate is required: send the ${what}'s modifiedDate as QRS last returned it`);
  const [{ m }] = await qsr.query<{ m: Date }>(`SELECT date_trunc('milliseconds', "ModifiedDate") AS m FROM "${table}" WHERE "ID" = $1`, [id]);
  const given = Date.parse(body.modifiedDate);
  if (Number.isNaN(given) || given !== m.getTime()) {
    throw fail(409, `conflict: ${what} ${id} was modified at ${m.toISOString()}, the request's modifiedDate is ${body.modifiedDate}: read it again and resend`);
  }
}

// One row by id, or 404.
async function rowById(qsr: Qsr, table: string, id: string, what: string): Promise<Record<string, unknown>> {
  if (!GUID.test(id)) throw fail(400, `"${id}" is not a valid ${what} id (a GUID)`);
  const rows = await qsr.query(`SELECT *, date_trunc('milliseconds', "ModifiedDate") AS "__m" FROM "${table}" WHERE "ID" = $1`, [id]);
  if (!rows.length) throw fail(404, `no ${what} with id ${id}`);
  return rows[0];
}

// ---- system rules ----

function ruleEntity(r: Record<string, unknown>): Record<string, unknown> {
  return {
    id: r.ID,
    createdDate: r.CreatedDate,
    modifiedDate: r.__m,
    modifiedByUserName: r.ModifiedByUserName,
    category: r.Category,
    type: r.Type,
    name: r.Name,
    rule: r.Rule ?? '',
    resourceFilter: r.ResourceFilter ?? '',
    actions: Number(r.Actions),
    comment: r.Comment ?? '',
    disabled: Boolean(r.Disabled),
    ruleContext: Number(r.RuleContext),
    seedId: r.SeedId ?? '00000000-0000-0000-0000-000000000000',
    version: Number(r.Version ?? 0),
    tags: [],
    privileges: null,
    schemaPath: 'SystemRule',
  };
}

// The fields of a rule body, checked: name, rule (must parse), resourceFilter, actions (0..511), category, ruleContext.
function ruleFields(b: Record<string, unknown>, partial: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const want = (k: string, ok: boolean, msg: string) => {
    if (b[k] === undefined) {
      if (!partial && ['name', 'resourceFilter', 'actions'].includes(k)) throw fail(400, `${k} is required`);
      return false;
    }
    if (!ok) throw fail(400, `${k} ${msg}`);
    return true;
  };
  if (want('name', typeof b.name === 'string' && !!(b.name as string).trim(), 'must be a non-empty string')) out.Name = b.name;
  if (want('rule', typeof b.rule === 'string', 'must be a string')) {
    try {
      parseCondition(b.rule as string);
    } catch (e) {
      if (e instanceof ConditionSyntaxError) throw fail(400, `the rule's condition has a syntax error at ${e.offset + 1}: ${e.message}`);
      throw e;
    }
    out.Rule = b.rule;
  }
  if (want('resourceFilter', typeof b.resourceFilter === 'string', 'must be a string')) out.ResourceFilter = b.resourceFilter;
  if (want('actions', Number.isInteger(b.actions) && (b.actions as number) >= 0 && (b.actions as number) <= 511, 'must be a bit mask 0..511')) out.Actions = b.actions;
  if (want('category', typeof b.category === 'string' && ['security', 'license', 'sync'].includes((b.category as string).toLowerCase()), 'must be Security, License or Sync')) {
    out.Category = (b.category as string)[0].toUpperCase() + (b.category as string).slice(1).toLowerCase();
  }
  if (want('ruleContext', [0, 1, 2].includes(b.ruleContext as number), 'must be 0 (both), 1 (hub only) or 2 (QMC only)')) out.RuleContext = b.ruleContext;
  if (want('disabled', typeof b.disabled === 'boolean', 'must be true or false')) out.Disabled = b.disabled;
  if (want('comment', typeof b.comment === 'string', 'must be a string')) out.Comment = b.comment;
  return out;
}

async function ruleRows(qsr: Qsr): Promise<Record<string, unknown>[]> {
  return qsr.query(`SELECT *, date_trunc('milliseconds', "ModifiedDate") AS "__m" FROM "SystemRules" ORDER BY "Name", "ID"`);
}

async function createRule(c: RulesCall): Promise<Record<string, unknown>> {
  const f = ruleFields(await jsonBody(c.req, 'SystemRule'), false);
  const id = randomUUID();
  const cols = { ID: id, ModifiedByUserName: `${c.user.userDirectory}\\${c.user.userId}`, Category: 'Security', Rule: '', Comment: '', RuleContext: 0, Disabled: false, ...f, Type: 'Custom' };
  const keys = Object.keys(cols);
  await c.qsr.query(`INSERT INTO "SystemRules" (${keys.map((k) => `"${k}"`).join(',')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(',')})`, Object.values(cols));
  return ruleEntity(await rowById(c.qsr, 'SystemRules', id, 'system rule'));
}

async function updateRule(c: RulesCall, id: string): Promise<Record<string, unknown>> {
  const row = await rowById(c.qsr, 'SystemRules', id, 'system rule');
  const body = await jsonBody(c.req, 'SystemRule');
  await checkModified(c.qsr, 'SystemRules', id, body, 'system rule');
  if (String(row.Type).toLowerCase() === 'readonly') throw fail(400, `system rule ${id} ("${row.Name}") is read only`);
  const f = ruleFields(body, true);
  f.ModifiedByUserName = `${c.user.userDirectory}\\${c.user.userId}`;
  const keys = Object.keys(f);
  await c.qsr.query(
    `UPDATE "SystemRules" SET ${keys.map((k, i) => `"${k}" = $${i + 2}`).join(', ')}, "ModifiedDate" = now(), "Version" = "Version" + 1 WHERE "ID" = $1`,
    [id, ...Object.values(f)],
  );
  return ruleEntity(await rowById(c.qsr, 'SystemRules', id, 'system rule'));
}

async function deleteRule(c: RulesCall, id: string): Promise<void> {
  const row = await rowById(c.qsr, 'SystemRules', id, 'system rule');
  if (String(row.Type).toLowerCase() !== 'custom') throw fail(400, `system rule ${id} ("${row.Name}") is a ${row.Type} rule: it cannot be deleted, only edited or disabled`);
  await c.qsr.query('DELETE FROM "SystemRules" WHERE "ID" = $1', [id]);
}

// ---- custom property definitions ----

function definitionEntity(r: Record<string, unknown>): Record<string, unknown> {
  return {
    id: r.ID,
    createdDate: r.CreatedDate,
    modifiedDate: r.__m,
    modifiedByUserName: r.ModifiedByUserName,
    name: r.Name,
    valueType: r.ValueType ?? 'Text',
    choiceValues: list(r.ChoiceValues as string | null),
    objectTypes: list(r.ObjectTypes as string | null),
    description: r.Description ?? '',
    privileges: null,
    schemaPath: 'CustomPropertyDefinition',
  };
}

const OBJECT_TYPES = ['App', 'ContentLibrary', 'DataConnection', 'EngineService', 'Extension', 'ServerNodeConfiguration', 'ProxyService', 'ReloadTask', 'ExternalProgramTask', 'UserSyncTask', 'SchedulerService', 'Stream', 'User', 'VirtualProxyConfig', 'RepositoryService', 'PrintingService', 'OdagService'];

function definitionFields(b: Record<string, unknown>, partial: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && !x.includes(','));
  if (b.name !== undefined || !partial) {
    if (typeof b.name !== 'string' || !/^[A-Za-z0-9_]+$/.test(b.name)) throw fail(400, 'name must be letters, digits and _ (QRS refuses other characters in a custom property name)');
    out.Name = b.name;
  }
  if (b.valueType !== undefined) out.ValueType = String(b.valueType);
  if (b.description !== undefined) out.Description = String(b.description);
  if (b.choiceValues !== undefined) {
    if (!strings(b.choiceValues)) throw fail(400, 'choiceValues must be a list of strings without commas');
    out.ChoiceValues = (b.choiceValues as string[]).join(',');
  }
  if (b.objectTypes !== undefined) {
    if (!strings(b.objectTypes)) throw fail(400, 'objectTypes must be a list of object type names');
    const bad = (b.objectTypes as string[]).filter((t) => !OBJECT_TYPES.includes(t));
    if (bad.length) throw fail(400, `objectTypes: ${bad.join(', ')} ${bad.length > 1 ? 'are not object types' : 'is not an object type'} (${OBJECT_TYPES.join(', ')})`);
    out.ObjectTypes = (b.objectTypes as string[]).join(',');
  }
  return out;
}

async function createDefinition(c: RulesCall): Promise<Record<string, unknown>> {
  const f = definitionFields(await jsonBody(c.req, 'CustomPropertyDefinition'), false);
  if ((await c.qsr.query('SELECT 1 FROM "CustomPropertyDefinitions" WHERE lower("Name") = lower($1)', [f.Name])).length) throw fail(400, `a custom property named ${f.Name} already exists`);
  const id = randomUUID();
  const cols = { ID: id, ModifiedByUserName: `${c.user.userDirectory}\\${c.user.userId}`, ValueType: 'Text', ...f };
  const keys = Object.keys(cols);
  await c.qsr.query(`INSERT INTO "CustomPropertyDefinitions" (${keys.map((k) => `"${k}"`).join(',')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(',')})`, Object.values(cols));
  return definitionEntity(await rowById(c.qsr, 'CustomPropertyDefinitions', id, 'custom property definition'));
}

async function updateDefinition(c: RulesCall, id: string): Promise<Record<string, unknown>> {
  await rowById(c.qsr, 'CustomPropertyDefinitions', id, 'custom property definition');
  const body = await jsonBody(c.req, 'CustomPropertyDefinition');
  await checkModified(c.qsr, 'CustomPropertyDefinitions', id, body, 'custom property definition');
  const f = definitionFields(body, true);
  f.ModifiedByUserName = `${c.user.userDirectory}\\${c.user.userId}`;
  const keys = Object.keys(f);
  await c.qsr.query(`UPDATE "CustomPropertyDefinitions" SET ${keys.map((k, i) => `"${k}" = $${i + 2}`).join(', ')}, "ModifiedDate" = now() WHERE "ID" = $1`, [id, ...Object.values(f)]);
  return definitionEntity(await rowById(c.qsr, 'CustomPropertyDefinitions', id, 'custom property definition'));
}

// ---- streams and data connections with their custom properties ----

const OBJECTS: Record<string, { table: string; type: string; schemaPath: string; what: string }> = {
  stream: { table: 'Streams', type: 'Stream', schemaPath: 'Stream', what: 'stream' },
  dataconnection: { table: 'DataConnections', type: 'DataConnection', schemaPath: 'DataConnection', what: 'data connection' },
};

async function objectEntity(qsr: Qsr, kind: string, r: Record<string, unknown>): Promise<Record<string, unknown>> {
  const o = OBJECTS[kind];
  const cps = await qsr.query(
    `SELECT v."ID", v."Value", d."ID" AS "DefID", d."Name" AS "DefName" FROM "CustomPropertyValues" v JOIN "CustomPropertyDefinitions" d ON d."ID" = v."DefinitionID"
      WHERE v."ObjectID" = $1 ORDER BY d."Name", v."Value"`,
    [r.ID],
  );
  const [owner] = r.OwnerID ? await qsr.query('SELECT "ID","UserId","UserDirectory","Name" FROM "Users" WHERE "ID" = $1', [r.OwnerID]) : [];
  const e: Record<string, unknown> = {
    id: r.ID,
    createdDate: r.CreatedDate,
    modifiedDate: r.__m,
    modifiedByUserName: r.ModifiedByUserName,
    name: r.Name,
    owner: owner ? { id: owner.ID, userId: owner.UserId, userDirectory: owner.UserDirectory, name: owner.Name } : null,
    customProperties: cps.map((c) => ({ id: c.ID, value: c.Value, definition: { id: c.DefID, name: c.DefName } })),
    tags: [],
    privileges: null,
    schemaPath: o.schemaPath,
  };
  // a data connection's password is never returned (QRS leaves it out)
  if (kind === 'dataconnection') Object.assign(e, { connectionstring: r.ConnectionString, type: r.Type, username: r.UserName ?? null, architecture: Number(r.Architecture ?? 0), logOn: Number(r.LogOn ?? 0) });
  return e;
}

async function updateObject(c: RulesCall, kind: string, id: string): Promise<Record<string, unknown>> {
  const o = OBJECTS[kind];
  await rowById(c.qsr, o.table, id, o.what);
  const body = await jsonBody(c.req, o.schemaPath);
  await checkModified(c.qsr, o.table, id, body, o.what);
  const sets: string[] = ['"ModifiedDate" = now()', '"ModifiedByUserName" = $2'];
  const params: unknown[] = [id, `${c.user.userDirectory}\\${c.user.userId}`];
  if (typeof body.name === 'string' && body.name.trim()) {
    params.push(body.name);
    sets.push(`"Name" = $${params.length}`);
  }
  let cps: Array<{ def: string; value: string }> | undefined;
  if (Array.isArray(body.customProperties)) {
    cps = [];
    for (const cp of body.customProperties as Array<{ definition?: { id?: unknown }; value?: unknown }>) {
      const def = typeof cp?.definition?.id === 'string' ? cp.definition.id.toLowerCase() : '';
      if (!GUID.test(def)) throw fail(400, 'a custom property must name its definition as { "definition": { "id": "<guid>" }, "value": "..." }');
      const [d] = await c.qsr.query<{ ChoiceValues: string | null; ObjectTypes: string | null; Name: string }>('SELECT "ChoiceValues","ObjectTypes","Name" FROM "CustomPropertyDefinitions" WHERE "ID" = $1', [def]);
      if (!d) throw fail(404, `no custom property definition with id ${def}`);
      if (typeof cp.value !== 'string') throw fail(400, 'a custom property value must be a string');
      if (!list(d.ObjectTypes).includes(o.type)) throw fail(400, `custom property ${d.Name} does not apply to ${o.type} (object types: ${d.ObjectTypes || 'none'})`);
      if (d.ChoiceValues && !list(d.ChoiceValues).includes(cp.value)) throw fail(400, `"${cp.value}" is not one of the values of custom property ${d.Name} (${d.ChoiceValues})`);
      cps.push({ def, value: cp.value });
    }
  }
  await c.qsr.query(`UPDATE "${o.table}" SET ${sets.join(', ')} WHERE "ID" = $1`, params);
  if (cps) {
    await c.qsr.query('DELETE FROM "CustomPropertyValues" WHERE "ObjectID" = $1', [id]);
    for (const cp of cps) await c.qsr.query('INSERT INTO "CustomPropertyValues" ("ID","DefinitionID","Value","ObjectID","ObjectType") VALUES ($1, $2, $3, $4, $5)', [randomUUID(), cp.def, cp.value, id, o.type]);
  }
  return objectEntity(c.qsr, kind, await rowById(c.qsr, o.table, id, o.what));
}

/** Route a call to these endpoints; undefined when it is not one of them. */
export async function routeRules(c: RulesCall): Promise<{ status: number; body: unknown } | undefined> {
  const m = /^\/qrs\/(systemrule|custompropertydefinition|stream|dataconnection)(?:\/(full|[0-9a-f-]{36}))?\/?$/.exec(c.path);
  if (!m) return undefined;
  const [, kind, sub] = m;
  const id = sub && sub !== 'full' ? sub : undefined;
  if (c.method === 'GET') {
    const keep = filterOf(c.query);
    if (kind === 'systemrule') {
      if (id) return { status: 200, body: ruleEntity(await rowById(c.qsr, 'SystemRules', id, 'system rule')) };
      const all = (await ruleRows(c.qsr)).map(ruleEntity).filter(keep);
      return { status: 200, body: sub === 'full' ? all : all.map((e) => ({ id: e.id, name: e.name, privileges: null })) };
    }
    if (kind === 'custompropertydefinition') {
      if (id) return { status: 200, body: definitionEntity(await rowById(c.qsr, 'CustomPropertyDefinitions', id, 'custom property definition')) };
      const all = (await c.qsr.query(`SELECT *, date_trunc('milliseconds', "ModifiedDate") AS "__m" FROM "CustomPropertyDefinitions" ORDER BY "Name"`)).map(definitionEntity).filter(keep);
      return { status: 200, body: sub === 'full' ? all : all.map((e) => ({ id: e.id, name: e.name, privileges: null })) };
    }
    const o = OBJECTS[kind];
    if (id) return { status: 200, body: await objectEntity(c.qsr, kind, await rowById(c.qsr, o.table, id, o.what)) };
    const rows = await c.qsr.query(`SELECT *, date_trunc('milliseconds', "ModifiedDate") AS "__m" FROM "${o.table}" ORDER BY "Name", "ID"`);
    if (sub !== 'full') return { status: 200, body: rows.map((r) => ({ id: r.ID, name: r.Name, privileges: null })) };
    return { status: 200, body: (await Promise.all(rows.map((r) => objectEntity(c.qsr, kind, r)))).filter(keep) };
  }
  if (c.method === 'POST' && !sub && kind === 'systemrule') return { status: 201, body: await createRule(c) };
  if (c.method === 'POST' && !sub && kind === 'custompropertydefinition') return { status: 201, body: await createDefinition(c) };
  if (c.method === 'PUT' && id && kind === 'systemrule') return { status: 200, body: await updateRule(c, id) };
  if (c.method === 'PUT' && id && kind === 'custompropertydefinition') return { status: 200, body: await updateDefinition(c, id) };
  if (c.method === 'PUT' && id && OBJECTS[kind]) return { status: 200, body: await updateObject(c, kind, id) };
  if (c.method === 'DELETE' && id && kind === 'systemrule') {
    await deleteRule(c, id);
    return { status: 204, body: undefined };
  }
  return undefined;
}
