// The QRS REST API endpoints the emulator serves on 4242 (reference/qrs-api.md "Other endpoints used"), backed by QSR.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { checkXrfkey, isRefusal, readQlikUser } from './xrfkey.js';
import { quoteIdent, type Qsr } from './qsr.js';
import { AppHttpError, appEntity, routeAppChange } from './apps.js';
import { ClusterHttpError, nodeTypeNow, routeCluster } from './cluster.js';
import { routeRules } from './rules.js';
import { NodeHttpError, routeNodes } from './nodes.js';

export interface ApiContext {
  qsr: Qsr;
  /** The node's hostname from Host.cfg (what /servernodeconfiguration/local returns). */
  hostname: string;
  isCentral: boolean;
  buildVersion: string;
  log: (message: string) => void;
  /** The node's folder, service account and port offset (node registration: the CA key, the hosts file, 4444). */
  root: string;
  serviceAccount: string;
  portOffset: number;
}

/** QRS entity paths served from a QSR table: /qrs/<path>, /qrs/<path>/full, /qrs/<path>/count, /qrs/<path>/<id>. */
export const ENTITY_TABLES: Record<string, { table: string; schemaPath: string }> = {
  servernodeconfiguration: { table: 'ServerNodeConfigurations', schemaPath: 'ServerNodeConfiguration' },
  app: { table: 'Apps', schemaPath: 'App' },
  systemrule: { table: 'SystemRules', schemaPath: 'SystemRule' },
  stream: { table: 'Streams', schemaPath: 'Stream' },
  custompropertydefinition: { table: 'CustomPropertyDefinitions', schemaPath: 'CustomPropertyDefinition' },
  user: { table: 'Users', schemaPath: 'User' },
  tag: { table: 'Tags', schemaPath: 'Tag' },
  reloadtask: { table: 'ReloadTasks', schemaPath: 'ReloadTask' },
  dataconnection: { table: 'DataConnections', schemaPath: 'DataConnection' },
};

class HttpError extends Error {
  // An error that becomes an HTTP status and a text body.
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// The JSON name of a QSR column: "ID" → "id", "HostName" → "hostName".
export function jsonName(column: string): string {
  if (column === column.toUpperCase()) return column.toLowerCase();
  return column[0].toLowerCase() + column.slice(1);
}

// A QSR row as the QRS API shows it: camelCase keys, binary columns left out, and the schemaPath.
function toEntity(row: Record<string, unknown>, schemaPath: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (!Buffer.isBuffer(v)) out[jsonName(k)] = v;
  out.schemaPath = schemaPath;
  return out;
}

// The condensed form of an entity: id, name (or hostName) and privileges.
function condensed(row: Record<string, unknown>): Record<string, unknown> {
  const e = toEntity(row, '');
  const out: Record<string, unknown> = { id: e.id };
  if ('name' in e) out.name = e.name;
  else if ('hostName' in e) out.hostName = e.hostName;
  out.privileges = null;
  return out;
}

// Send a JSON body.
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// Send a text body.
function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// GET /qrs/about.
function about(ctx: ApiContext): Record<string, unknown> {
  return {
    buildVersion: ctx.buildVersion,
    buildDate: '5/13/2025 12:00:00 AM',
    databaseProvider: 'Devart.Data.PostgreSql',
    nodeType: ctx.isCentral ? 1 : 2,
    sharedPersistence: true,
    requiresBootstrap: false,
    singleNodeOnly: false,
    schemaPath: 'About',
  };
}

// Rows of a QSR table, or one row by id (404 when absent).
async function entityRows(ctx: ApiContext, table: string, id?: string): Promise<Record<string, unknown>[]> {
  if (id === undefined) return ctx.qsr.query(`SELECT * FROM ${quoteIdent(table)}`);
  if (!/^[0-9a-fA-F-]{36}$/.test(id)) throw new HttpError(400, `"${id}" is not a valid id (a GUID)`);
  const rows = await ctx.qsr.query(`SELECT * FROM ${quoteIdent(table)} WHERE "ID"::text = $1`, [id.toLowerCase()]);
  if (rows.length === 0) throw new HttpError(404, `no ${table} entity with id ${id}`);
  return rows;
}

// Route a GET under /qrs to its answer.
async function route(ctx: ApiContext, path: string): Promise<{ status: number; body: unknown }> {
  if (path === '/qrs/about') return { status: 200, body: { ...about(ctx), nodeType: await nodeTypeNow(ctx) } };
  if (path === '/qrs/servernodeconfiguration/local') {
    const rows = await ctx.qsr.query(`SELECT * FROM "ServerNodeConfigurations" WHERE lower("HostName") = lower($1)`, [ctx.hostname]);
    if (rows.length === 0) throw new HttpError(404, `no server node configuration for ${ctx.hostname} (the hostname in Host.cfg)`);
    return { status: 200, body: toEntity(rows[0], 'ServerNodeConfiguration') };
  }
  const m = /^\/qrs\/([a-z]+)(?:\/(full|count|[0-9a-fA-F-]{36}))?\/?$/.exec(path);
  const entity = m ? ENTITY_TABLES[m[1]] : undefined;
  if (!m || !entity) throw new HttpError(404, `${path} is not served by the emulated repository service`);
  if (m[2] === 'count') {
    const rows = await ctx.qsr.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(entity.table)}`);
    return { status: 200, body: { value: Number(rows[0].n) } };
  }
  // Apps come with their owner, stream, tags and custom properties, as QRS returns them.
  if (m[1] === 'app' && m[2] === 'full') return { status: 200, body: await Promise.all((await ctx.qsr.query<{ ID: string }>('SELECT "ID" FROM "Apps" ORDER BY "Name"')).map((r) => appEntity(ctx.qsr, r.ID))) };
  if (m[1] === 'app' && m[2]) return { status: 200, body: await appEntity(ctx.qsr, m[2].toLowerCase()) };
  if (m[2] === 'full') return { status: 200, body: (await entityRows(ctx, entity.table)).map((r) => toEntity(r, entity.schemaPath)) };
  if (m[2]) return { status: 200, body: toEntity((await entityRows(ctx, entity.table, m[2]))[0], entity.schemaPath) };
  return { status: 200, body: (await entityRows(ctx, entity.table)).map(condensed) };
}

// The request handler of the 4242 listener: Xrfkey and X-Qlik-User checks, then the endpoint.
export function apiHandler(ctx: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'https://qrs.invalid');
    const refusal = checkXrfkey(url, req.headers);
    if (refusal) return sendText(res, refusal.status, refusal.message);
    const user = readQlikUser(req.headers);
    if (isRefusal(user)) return sendText(res, user.status, user.message);
    const method = req.method ?? 'GET';
    const lower = url.pathname.toLowerCase();
    // A data connection PUT carries its custom properties (rules.ts, modifiedDate checked), its user name and password
    // (cluster.ts, §2.11 C), or both: each part goes to its module, the body read once.
    if (method === 'PUT' && /^\/qrs\/dataconnection\/[0-9a-f-]{36}\/?$/.test(lower)) {
      putConnection(ctx, user, lower, url.searchParams, req).then(
        (r) => sendJson(res, r.status, r.body),
        (err: unknown) => (err instanceof ClusterHttpError || err instanceof HttpError ? sendText(res, err.status, err.message) : (err as { status?: number }).status ? sendText(res, (err as { status: number }).status, (err as Error).message) : sendText(res, 500, `repository database ${ctx.qsr.where} failed: ${(err as Error).message}`)),
      );
      return;
    }
    if (/^\/qrs\/(servicecluster|failover)/.test(lower) && (method !== 'GET' || lower.startsWith('/qrs/servicecluster'))) {
      routeCluster(ctx, method, lower, req).then(
        (r) => (r === null ? sendText(res, 405, `${method} ${url.pathname} is not served by the emulated repository service`) : r.status === 204 ? (res.writeHead(204), res.end()) : sendJson(res, r.status, r.body)),
        (err: unknown) => (err instanceof ClusterHttpError ? sendText(res, err.status, err.message) : sendText(res, 500, `repository database ${ctx.qsr.where} failed: ${(err as Error).message}`)),
      );
      return;
    }
    const nodes = /^\/qrs\/(servernodeconfiguration\/container|servernoderegistration\/|servernodeconfiguration\/[0-9a-f-]{36}$)/.test(lower) && (method !== 'GET' || !/^\/qrs\/servernodeconfiguration\/[0-9a-f-]{36}$/.test(lower));
    if (url.pathname === '/ssl/ping') return sendText(res, 200, 'Ping successful');
    const notServed = () => new HttpError(405, `${method} ${url.pathname} is not served by the emulated repository service`);
    const nodeCtx = { qsr: ctx.qsr, isCentral: ctx.isCentral, root: ctx.root, serviceAccount: ctx.serviceAccount, portOffset: ctx.portOffset, log: ctx.log };
    // Node registration (nodes.ts), then security rules, custom property definitions, streams and data connections
    // (rules.ts), then the other reads and the app changes.
    const answer = nodes
      ? routeNodes(nodeCtx, method, lower, req).then((r) => r ?? { status: 404, body: null })
      : routeRules({ qsr: ctx.qsr, user, method, path: lower, query: url.searchParams, req }).then((r) => {
        if (r) return r;
        if (method === 'GET') return route(ctx, lower);
        if (!lower.startsWith('/qrs/app/')) throw notServed();
        return routeAppChange({ qsr: ctx.qsr, isCentral: ctx.isCentral, user, method, path: lower, query: url.searchParams, req }).then((x) => {
          if (!x) throw notServed();
          return x;
        });
      });
    answer.then(
      (r) => (r.status === 204 ? (res.writeHead(204), res.end()) : sendJson(res, r.status, r.body)),
      (err: unknown) => {
        if (err instanceof HttpError || err instanceof AppHttpError || err instanceof NodeHttpError) return sendText(res, err.status, err.message);
        const message = `repository database ${ctx.qsr.where} failed: ${err instanceof Error ? err.message : String(err)}`;
        ctx.log(message);
        sendText(res, 500, message);
      },
    );
  };
}

// PUT /qrs/dataconnection/{id}: custom properties first (their modifiedDate check sees the row as the client read it),
// then the credentials.
async function putConnection(ctx: ApiContext, user: Parameters<typeof routeRules>[0]['user'], path: string, query: URLSearchParams, req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const replay = () => Readable.from([raw]) as unknown as IncomingMessage;
  let body: Record<string, unknown> = {};
  try {
    body = (JSON.parse(raw.toString('utf8') || '{}') ?? {}) as Record<string, unknown>;
  } catch {
    // not JSON: the rules module answers 400 for it
  }
  const credentials = 'password' in body || 'userName' in body;
  let answer: { status: number; body: unknown } | null = null;
  if (!credentials || 'customProperties' in body) answer = (await routeRules({ qsr: ctx.qsr, user, method: 'PUT', path, query, req: replay() })) ?? null;
  if (credentials) answer = (await routeCluster(ctx, 'PUT', path, replay())) ?? answer;
  if (!answer) throw new HttpError(405, `PUT ${path} is not served by the emulated repository service`);
  return answer;
}
