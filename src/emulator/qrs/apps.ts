// The app endpoints of the emulated QRS that change things (reference/qrs-api.md "Apps"): upload a QVF, replace an
// app's content, publish, and update owner, tags and custom properties. They act on QSR and on the share's Apps folder
// (AppFolder in ServiceClusterSettingsSharedPersistenceProperties), and refuse what QRS refuses: an unknown id (404),
// a stale modifiedDate (409), a body that is not a QVF (400), an upload to a rim node (400), publishing twice (400).
//
// Emulator assumptions, labelled: a QVF is recognised by the header the emulator writes into its app files
// ("QSADMIN-EMULATED-APP"); the uploaded app's owner is the calling user (X-Qlik-User) when QSR knows that user.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Qsr } from './qsr.js';

/** The first bytes of every app file the emulator writes (share-files.ts writeRandomFile). */
export const EMULATED_QVF_MAGIC = 'QSADMIN-EMULATED-APP ';

export class AppHttpError extends Error {
  // A refusal that becomes an HTTP status and a text body.
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AppCall {
  qsr: Qsr;
  isCentral: boolean;
  user: { userDirectory: string; userId: string };
  method: string;
  /** Lower-cased path. */
  path: string;
  query: URLSearchParams;
  req: IncomingMessage;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The app folder of the share, as QSR records it.
async function appFolder(qsr: Qsr): Promise<string> {
  const rows = await qsr.query<{ AppFolder: string }>('SELECT "AppFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties" LIMIT 1');
  if (!rows.length || !rows[0].AppFolder) throw new AppHttpError(500, 'QSR has no AppFolder in ServiceClusterSettingsSharedPersistenceProperties');
  return rows[0].AppFolder;
}

// One Apps row by id, or 404.
async function appRow(qsr: Qsr, id: string): Promise<Record<string, unknown>> {
  if (!GUID.test(id)) throw new AppHttpError(400, `"${id}" is not a valid app id (a GUID)`);
  const rows = await qsr.query('SELECT * FROM "Apps" WHERE "ID" = $1', [id]);
  if (!rows.length) throw new AppHttpError(404, `no app with id ${id}`);
  return rows[0];
}

// The app as QRS returns it: the row's fields plus owner, stream, tags and custom properties.
export async function appEntity(qsr: Qsr, id: string): Promise<Record<string, unknown>> {
  const row = await appRow(qsr, id);
  const [owner] = row.OwnerID ? await qsr.query('SELECT "ID","UserId","UserDirectory","Name" FROM "Users" WHERE "ID" = $1', [row.OwnerID]) : [];
  const [stream] = row.StreamID ? await qsr.query('SELECT "ID","Name" FROM "Streams" WHERE "ID" = $1', [row.StreamID]) : [];
  const tags = await qsr.query('SELECT t."ID", t."Name" FROM "TagApps" ta JOIN "Tags" t ON t."ID" = ta."TagID" WHERE ta."AppID" = $1 ORDER BY t."Name"', [id]);
  const cps = await qsr.query(
    `SELECT v."ID", v."Value", d."ID" AS "DefID", d."Name" AS "DefName" FROM "CustomPropertyValues" v JOIN "CustomPropertyDefinitions" d ON d."ID" = v."DefinitionID"
      WHERE v."ObjectID" = $1 ORDER BY d."Name", v."Value"`,
    [id],
  );
  const ms = await qsr.query<{ m: Date }>(`SELECT date_trunc('milliseconds', "ModifiedDate") AS m FROM "Apps" WHERE "ID" = $1`, [id]);
  return {
    id: row.ID,
    name: row.Name,
    appId: row.AppId,
    createdDate: row.CreatedDate,
    modifiedDate: ms[0].m,
    modifiedByUserName: row.ModifiedByUserName,
    published: row.Published,
    publishTime: row.PublishTime,
    fileSize: Number(row.FileSize),
    lastReloadTime: row.LastReloadTime,
    savedInProductVersion: row.SavedInProductVersion,
    owner: owner ? { id: owner.ID, userId: owner.UserId, userDirectory: owner.UserDirectory, name: owner.Name } : null,
    stream: stream ? { id: stream.ID, name: stream.Name } : null,
    tags: tags.map((t) => ({ id: t.ID, name: t.Name })),
    customProperties: cps.map((c) => ({ id: c.ID, value: c.Value, definition: { id: c.DefID, name: c.DefName } })),
    schemaPath: 'App',
  };
}

// Stream the request body into `file` (via a temp name); the first bytes must be a QVF's, else 400 and nothing kept.
async function receiveQvf(req: IncomingMessage, file: string): Promise<number> {
  const tmp = `${file}.${process.pid}.upload`;
  let head = Buffer.alloc(0);
  let bytes = 0;
  try {
    await pipeline(
      req,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          if (head.length < EMULATED_QVF_MAGIC.length) head = Buffer.concat([head, chunk]).subarray(0, EMULATED_QVF_MAGIC.length);
          bytes += chunk.length;
          yield chunk;
        }
      },
      fs.createWriteStream(tmp),
    );
    if (bytes === 0) throw new AppHttpError(400, 'the request has no body: upload the QVF file as the body (Content-Type: application/vnd.qlik.sense.app)');
    if (head.toString('latin1') !== EMULATED_QVF_MAGIC) throw new AppHttpError(400, 'the uploaded file is not a QVF (Qlik Sense app file): its header is not an app\'s');
    fs.renameSync(tmp, file);
    return bytes;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

// The Users row of the calling user, if QSR has one.
async function callerId(c: AppCall): Promise<string | null> {
  const rows = await c.qsr.query<{ ID: string }>('SELECT "ID" FROM "Users" WHERE lower("UserDirectory") = lower($1) AND lower("UserId") = lower($2)', [c.user.userDirectory, c.user.userId]);
  return rows[0]?.ID ?? null;
}

// POST /qrs/app/upload?name=...: the body becomes a new app (new id) in the Apps folder and QSR.
async function upload(c: AppCall): Promise<Record<string, unknown>> {
  if (!c.isCentral) throw new AppHttpError(400, 'apps are uploaded on the central node only');
  const name = c.query.get('name');
  if (!name) throw new AppHttpError(400, 'the name query parameter is required: /qrs/app/upload?name=<app name>');
  const id = randomUUID();
  const file = path.join(await appFolder(c.qsr), id);
  const size = await receiveQvf(c.req, file);
  try {
    await c.qsr.query(
      `INSERT INTO "Apps" ("ID","ModifiedByUserName","Name","AppId","FileSize","Published","OwnerID","SavedInProductVersion")
       VALUES ($1::uuid, $2, $3, $1::text, $4, false, $5, '14.187.4')`,
      [id, `${c.user.userDirectory}\\${c.user.userId}`, name, size, await callerId(c)],
    );
  } catch (e) {
    fs.rmSync(file, { force: true }); // no file without its row
    throw e;
  }
  return appEntity(c.qsr, id);
}

// PUT /qrs/app/{id}/replace?app={targetappid}: the target app's content becomes that of app {id}; the target keeps its id.
async function replace(c: AppCall, sourceId: string): Promise<Record<string, unknown>> {
  const target = c.query.get('app')?.toLowerCase();
  if (!target) throw new AppHttpError(400, 'the app query parameter (the target app id) is required: /qrs/app/{id}/replace?app={targetappid}');
  const source = await appRow(c.qsr, sourceId);
  await appRow(c.qsr, target);
  if (target === sourceId) throw new AppHttpError(400, 'an app cannot replace itself');
  const dir = await appFolder(c.qsr);
  const tmp = path.join(dir, `${target}.${process.pid}.replace`);
  fs.copyFileSync(path.join(dir, sourceId), tmp);
  fs.renameSync(tmp, path.join(dir, target));
  await c.qsr.query(`UPDATE "Apps" SET "FileSize" = $2, "ModifiedDate" = now(), "ModifiedByUserName" = $3 WHERE "ID" = $1`, [target, source.FileSize, `${c.user.userDirectory}\\${c.user.userId}`]);
  return appEntity(c.qsr, target);
}

// PUT /qrs/app/{id}/publish?stream={streamid}[&name=...]: an unpublished app goes into a stream.
async function publish(c: AppCall, id: string): Promise<Record<string, unknown>> {
  const app = await appRow(c.qsr, id);
  const stream = c.query.get('stream')?.toLowerCase();
  if (!stream || !GUID.test(stream)) throw new AppHttpError(400, 'the stream query parameter (a stream id) is required: /qrs/app/{id}/publish?stream={streamid}');
  if (!(await c.qsr.query('SELECT 1 FROM "Streams" WHERE "ID" = $1', [stream])).length) throw new AppHttpError(404, `no stream with id ${stream}`);
  if (app.Published) throw new AppHttpError(400, `app ${id} is already published: move it to another stream with PUT /qrs/app/${id} instead`);
  const name = c.query.get('name');
  await c.qsr.query(
    `UPDATE "Apps" SET "StreamID" = $2, "Published" = true, "PublishTime" = now(), "ModifiedDate" = now(), "Name" = coalesce($3, "Name") WHERE "ID" = $1`,
    [id, stream, name],
  );
  return appEntity(c.qsr, id);
}

// Read a JSON request body.
async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new AppHttpError(400, `the body is not a JSON App entity: ${(e as Error).message}`);
  }
}

// The id of a referenced entity in a body ({ id } or null), checked against its table: 404 names what is missing.
async function refId(qsr: Qsr, table: string, what: string, v: unknown): Promise<string | null> {
  if (v === null) return null;
  const id = typeof v === 'object' && v && typeof (v as { id?: unknown }).id === 'string' ? (v as { id: string }).id.toLowerCase() : undefined;
  if (!id || !GUID.test(id)) throw new AppHttpError(400, `${what} must be given as { "id": "<guid>" }`);
  if (!(await qsr.query(`SELECT 1 FROM "${table}" WHERE "ID" = $1`, [id])).length) throw new AppHttpError(404, `no ${what} with id ${id}`);
  return id;
}

// PUT /qrs/app/{id}: name, owner, stream, tags and custom properties; modifiedDate must be the app's current one (409 otherwise).
async function update(c: AppCall, id: string): Promise<Record<string, unknown>> {
  await appRow(c.qsr, id);
  const body = await jsonBody(c.req);
  if (typeof body.modifiedDate !== 'string') throw new AppHttpError(400, 'modifiedDate is required: send the app\'s modifiedDate as QRS last returned it');
  const given = Date.parse(body.modifiedDate);
  const [{ m }] = await c.qsr.query<{ m: Date }>(`SELECT date_trunc('milliseconds', "ModifiedDate") AS m FROM "Apps" WHERE "ID" = $1`, [id]);
  if (Number.isNaN(given) || given !== m.getTime()) {
    throw new AppHttpError(409, `conflict: app ${id} was modified at ${m.toISOString()}, the request's modifiedDate is ${body.modifiedDate}: read the app again and resend`);
  }
  const sets: string[] = [];
  const params: unknown[] = [id];
  const set = (col: string, v: unknown) => {
    params.push(v);
    sets.push(`"${col}" = $${params.length}`);
  };
  if (typeof body.name === 'string') set('Name', body.name);
  if ('owner' in body) set('OwnerID', await refId(c.qsr, 'Users', 'user (owner)', body.owner));
  if ('stream' in body) {
    const s = await refId(c.qsr, 'Streams', 'stream', body.stream);
    set('StreamID', s);
    set('Published', s !== null);
  }
  const tags = Array.isArray(body.tags) ? await Promise.all(body.tags.map((t) => refId(c.qsr, 'Tags', 'tag', t))) : undefined;
  let cps: Array<{ def: string; value: string }> | undefined;
  if (Array.isArray(body.customProperties)) {
    cps = [];
    for (const cp of body.customProperties as Array<{ definition?: unknown; value?: unknown }>) {
      const def = (await refId(c.qsr, 'CustomPropertyDefinitions', 'custom property definition', cp?.definition ?? null))!;
      if (typeof cp.value !== 'string') throw new AppHttpError(400, 'a custom property value must be a string');
      const [d] = await c.qsr.query<{ ChoiceValues: string | null; ObjectTypes: string | null; Name: string }>('SELECT "ChoiceValues","ObjectTypes","Name" FROM "CustomPropertyDefinitions" WHERE "ID" = $1', [def]);
      if (d.ObjectTypes && !d.ObjectTypes.split(',').map((s) => s.trim()).includes('App')) throw new AppHttpError(400, `custom property ${d.Name} does not apply to apps (object types: ${d.ObjectTypes})`);
      if (d.ChoiceValues && !d.ChoiceValues.split(',').map((s) => s.trim()).includes(cp.value)) throw new AppHttpError(400, `"${cp.value}" is not one of the values of custom property ${d.Name} (${d.ChoiceValues})`);
      cps.push({ def, value: cp.value });
    }
  }
  set('ModifiedByUserName', `${c.user.userDirectory}\\${c.user.userId}`);
  await c.qsr.query(`UPDATE "Apps" SET ${sets.join(', ')}, "ModifiedDate" = now() WHERE "ID" = $1`, params);
  if (tags) {
    await c.qsr.query('DELETE FROM "TagApps" WHERE "AppID" = $1', [id]);
    for (const t of new Set(tags)) await c.qsr.query('INSERT INTO "TagApps" ("ID","TagID","AppID") VALUES ($1, $2, $3)', [randomUUID(), t, id]);
  }
  if (cps) {
    await c.qsr.query('DELETE FROM "CustomPropertyValues" WHERE "ObjectID" = $1', [id]);
    for (const cp of cps) await c.qsr.query(`INSERT INTO "CustomPropertyValues" ("ID","DefinitionID","Value","ObjectID","ObjectType") VALUES ($1, $2, $3, $4, 'App')`, [randomUUID(), cp.def, cp.value, id]);
  }
  return appEntity(c.qsr, id);
}

// DELETE /qrs/app/{id}: the app, its tag links, custom property values, reload tasks and its file.
async function remove(c: AppCall, id: string): Promise<void> {
  await appRow(c.qsr, id);
  const dir = await appFolder(c.qsr);
  for (const sql of [
    'DELETE FROM "TagApps" WHERE "AppID" = $1',
    'DELETE FROM "CustomPropertyValues" WHERE "ObjectID" = $1',
    'DELETE FROM "ReloadTasks" WHERE "AppID" = $1',
    'DELETE FROM "Apps" WHERE "ID" = $1',
  ]) await c.qsr.query(sql, [id]);
  fs.rmSync(path.join(dir, id), { force: true });
}

/** Route a call under /qrs/app that changes something; undefined when it is not one of these endpoints. */
export async function routeAppChange(c: AppCall): Promise<{ status: number; body: unknown } | undefined> {
  if (c.method === 'POST' && c.path === '/qrs/app/upload') return { status: 201, body: await upload(c) };
  const m = /^\/qrs\/app\/([0-9a-f-]{36})(?:\/(replace|publish))?\/?$/.exec(c.path);
  if (!m) return undefined;
  const [, id, action] = m;
  if (c.method === 'PUT' && action === 'replace') return { status: 200, body: await replace(c, id) };
  if (c.method === 'PUT' && action === 'publish') return { status: 200, body: await publish(c, id) };
  if (c.method === 'PUT' && !action) return { status: 200, body: await update(c, id) };
  if (c.method === 'DELETE' && !action) {
    await remove(c, id);
    return { status: 204, body: undefined };
  }
  return undefined;
}
