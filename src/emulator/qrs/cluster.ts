// QRS endpoints of the service cluster, failover and data connection passwords, as the emulator serves them:
// - GET /qrs/servicecluster[/full|/{id}] and PUT /qrs/servicecluster/{id}: the cluster's shared persistence folders
//   (ServiceClusterSettingsSharedPersistenceProperties). The guide changes the share paths with QlikSenseUtil's
//   "Service cluster" screen (§2.3); the QRS ServiceCluster entity holds the same settings (settings.
//   sharedPersistenceProperties.rootFolder, appFolder, staticContentRootFolder, archivedLogsRootFolder).
// - POST /qrs/failover/tonode/{serverNodeConfigurationID} (§2.4 "Manually migrating the central node"): an empty
//   POST; the target must be a failover candidate (FailoverCandidate in QSR) and not the central node already. The old
//   central becomes a candidate, as after an automatic failover (§2.4). 204 on success.
// - PUT /qrs/dataconnection/{id} with userName/password (QMC Data connections > Edit, §2.11 C). QRS keeps the password
//   encrypted; the emulator keeps "ENC:sha256:<hex>" of it, so that a test can tell which password was set.
// Changes are for the central node only (QMC talks to the central node); a rim answers 403 [emulator assumption].
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Qsr } from './qsr.js';

export class ClusterHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ClusterContext {
  qsr: Qsr;
  hostname: string;
}

const GUID = /^[0-9a-f-]{36}$/;
const FOLDERS = { rootFolder: 'RootFolder', appFolder: 'AppFolder', staticContentRootFolder: 'StaticContentRootFolder', archivedLogsRootFolder: 'ArchivedLogsRootFolder', connector64RootFolder: 'Connector64RootFolder', connector32RootFolder: 'Connector32RootFolder' } as const;

/** The emulator's stand-in for QRS's encryption of a stored data connection password. */
export function emulatedConnectionPassword(password: string): string {
  return `ENC:sha256:${createHash('sha256').update(password, 'utf8').digest('hex')}`;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ClusterHttpError(400, 'the request body is not JSON');
  }
}

async function isCentralHere(ctx: ClusterContext): Promise<boolean> {
  const rows = await ctx.qsr.query<{ IsCentral: boolean }>('SELECT "IsCentral" FROM "ServerNodeConfigurations" WHERE lower("HostName") = lower($1)', [ctx.hostname]);
  return !!rows[0]?.IsCentral;
}

async function requireCentral(ctx: ClusterContext): Promise<void> {
  if (!(await isCentralHere(ctx))) throw new ClusterHttpError(403, `${ctx.hostname} is not the central node: send changes to the central node's repository service [emulator assumption]`);
}

async function clusterEntity(ctx: ClusterContext): Promise<Record<string, unknown>> {
  const rows = await ctx.qsr.query<Record<string, unknown>>(
    `SELECT c."ID" AS cid, c."Name" AS name, c."ModifiedDate" AS modified, p.* FROM "ServiceClusters" c
       JOIN "ServiceClusterSettings" s ON s."ID" = c."SettingsID"
       JOIN "ServiceClusterSettingsSharedPersistenceProperties" p ON p."ID" = s."SharedPersistencePropertiesID"`,
  );
  if (rows.length !== 1) throw new ClusterHttpError(500, `QSR has ${rows.length} service clusters (expected 1)`);
  const r = rows[0];
  const spp: Record<string, unknown> = { id: r.ID, databaseHost: r.DatabaseHost, databasePort: r.DatabasePort };
  for (const [json, col] of Object.entries(FOLDERS)) spp[json] = r[col];
  return { id: r.cid, name: r.name, modifiedDate: r.modified, settings: { sharedPersistenceProperties: spp, failoverTimeout: r.FailoverTimeout }, schemaPath: 'ServiceCluster' };
}

// PUT /qrs/servicecluster/{id}: the folders given in settings.sharedPersistenceProperties (absolute paths only).
async function updateCluster(ctx: ClusterContext, id: string, body: unknown): Promise<Record<string, unknown>> {
  await requireCentral(ctx);
  const current = await clusterEntity(ctx);
  if (current.id !== id) throw new ClusterHttpError(404, `no ServiceCluster entity with id ${id}`);
  const spp = (body as { settings?: { sharedPersistenceProperties?: Record<string, unknown> } } | undefined)?.settings?.sharedPersistenceProperties;
  if (!spp || typeof spp !== 'object') throw new ClusterHttpError(400, 'the body has no settings.sharedPersistenceProperties');
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [json, col] of Object.entries(FOLDERS)) {
    if (!(json in spp)) continue;
    const v = spp[json];
    if (typeof v !== 'string' || !(/^\\\\[^\\]+\\[^\\]+/.test(v) || /^[A-Za-z]:\\/.test(v) || v.startsWith('/'))) throw new ClusterHttpError(400, `settings.sharedPersistenceProperties.${json} must be an absolute path (\\\\server\\share\\... or a drive path), got ${JSON.stringify(v)}`);
    values.push(v);
    sets.push(`"${col}" = $${values.length}`);
  }
  if (sets.length) {
    values.push((current.settings as { sharedPersistenceProperties: { id: string } }).sharedPersistenceProperties.id);
    await ctx.qsr.query(`UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET ${sets.join(', ')}, "ModifiedDate" = now() WHERE "ID" = $${values.length}`, values);
  }
  return clusterEntity(ctx);
}

// POST /qrs/failover/tonode/{id}.
async function failoverTo(ctx: ClusterContext, id: string): Promise<void> {
  await requireCentral(ctx);
  const rows = await ctx.qsr.query<{ ID: string; HostName: string; IsCentral: boolean; FailoverCandidate: boolean }>('SELECT "ID", "HostName", "IsCentral", "FailoverCandidate" FROM "ServerNodeConfigurations" WHERE "ID"::text = $1', [id]);
  const target = rows[0];
  if (!target) throw new ClusterHttpError(404, `no ServerNodeConfiguration entity with id ${id}`);
  if (target.IsCentral) throw new ClusterHttpError(400, `${target.HostName} is already the central node`);
  if (!target.FailoverCandidate) throw new ClusterHttpError(400, `${target.HostName} is not a failover candidate (set it in the QMC: Nodes > Edit > Failover candidate)`);
  // one statement: atomic without a transaction (the pool may give each query another connection)
  await ctx.qsr.query(
    'UPDATE "ServerNodeConfigurations" SET "IsCentral" = ("ID" = $1::uuid), "FailoverCandidate" = CASE WHEN "IsCentral" THEN true ELSE "FailoverCandidate" END, "ModifiedDate" = now() WHERE "IsCentral" = true OR "ID" = $1::uuid',
    [target.ID],
  );
}

// PUT /qrs/dataconnection/{id}: user name and password of a connection.
async function updateConnection(ctx: ClusterContext, id: string, body: unknown): Promise<Record<string, unknown>> {
  await requireCentral(ctx);
  const b = (body ?? {}) as { userName?: unknown; password?: unknown };
  if (b.password !== undefined && typeof b.password !== 'string') throw new ClusterHttpError(400, 'password must be a string');
  const rows = await ctx.qsr.query<{ ID: string; Name: string; UserName: string | null }>('SELECT "ID", "Name", "UserName" FROM "DataConnections" WHERE "ID"::text = $1', [id]);
  if (!rows[0]) throw new ClusterHttpError(404, `no DataConnection entity with id ${id}`);
  const userName = typeof b.userName === 'string' ? b.userName : rows[0].UserName;
  if (typeof b.password === 'string') await ctx.qsr.query('UPDATE "DataConnections" SET "UserName" = $1, "Password" = $2, "ModifiedDate" = now() WHERE "ID" = $3', [userName, emulatedConnectionPassword(b.password), id]);
  return { id, name: rows[0].Name, userName, schemaPath: 'DataConnection' };
}

/** The answer for a request this module serves, or null when it is not one of its paths. */
export async function routeCluster(ctx: ClusterContext, method: string, path: string, req: IncomingMessage): Promise<{ status: number; body: unknown } | null> {
  const sc = /^\/qrs\/servicecluster(?:\/(full|[0-9a-f-]{36}))?\/?$/.exec(path);
  if (sc && method === 'GET') {
    const e = await clusterEntity(ctx);
    if (sc[1] && sc[1] !== 'full' && sc[1] !== e.id) throw new ClusterHttpError(404, `no ServiceCluster entity with id ${sc[1]}`);
    return { status: 200, body: sc[1] && sc[1] !== 'full' ? e : sc[1] === 'full' ? [e] : [{ id: e.id, name: e.name, privileges: null }] };
  }
  if (sc && method === 'PUT' && sc[1] && GUID.test(sc[1])) return { status: 200, body: await updateCluster(ctx, sc[1], await readBody(req)) };
  const fo = /^\/qrs\/failover\/tonode\/([^/]+)\/?$/.exec(path);
  if (fo && method === 'POST') {
    if (!GUID.test(fo[1])) throw new ClusterHttpError(400, `"${fo[1]}" is not a valid id (a GUID)`);
    await failoverTo(ctx, fo[1]);
    return { status: 204, body: null };
  }
  const dc = /^\/qrs\/dataconnection\/([0-9a-f-]{36})\/?$/.exec(path);
  if (dc && method === 'PUT') return { status: 200, body: await updateConnection(ctx, dc[1], await readBody(req)) };
  return null;
}

/** /qrs/about's nodeType now (1 central, 2 rim): read from QSR, so that a failover shows at once. */
export async function nodeTypeNow(ctx: ClusterContext): Promise<number> {
  return (await isCentralHere(ctx)) ? 1 : 2;
}
