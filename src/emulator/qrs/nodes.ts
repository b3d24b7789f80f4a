// The QRS endpoints that add and remove nodes (reference/qrs-api.md "Adding a rim node"): the node creation
// container, the registration start that distributes the node's certificates and returns the unlock password, and
// DELETE of a node configuration. Served by the central node only: a rim's QRS refuses them (emulator assumption: 403).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { generateQlikCertSet } from '../../certs/generate.js';
import { EmulatedMachine } from '../../host/emulated/machine.js';
import { QRS_STATE_PORT } from '../../site/services.js';
import { seedNode } from '../db/seed.js';
import { inTransaction } from '../db/sql.js';
import { centralCa, pushPackage, sealPackage } from './distribution.js';
import type { Qsr } from './qsr.js';

export class NodeHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface NodesContext {
  qsr: Qsr;
  isCentral: boolean;
  /** The central node's folder (its stores hold the CA key; its hosts file resolves the new node). */
  root: string;
  serviceAccount: string;
  portOffset: number;
  log: (message: string) => void;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The body of a request as JSON (at most 1 MB).
async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1024 * 1024) throw new NodeHttpError(413, 'request body over 1 MB');
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
  } catch {
    throw new NodeHttpError(400, 'the body is not JSON');
  }
}

// The empty ServerNodeCreationContainer (GET /qrs/servernodeconfiguration/container).
function emptyContainer(): Record<string, unknown> {
  return {
    configuration: { id: '00000000-0000-0000-0000-000000000000', name: '', hostName: '', nodePurpose: 0, engineEnabled: true, proxyEnabled: true, schedulerEnabled: true, printingEnabled: true, failoverCandidate: false },
    repositoryServiceTemplateID: null, engineServiceTemplateID: null, proxyServiceTemplateID: null, schedulerServiceTemplateID: null,
    schemaPath: 'ServerNodeCreationContainer',
  };
}

// POST /qrs/servernodeconfiguration/container: the node's configuration and services, one transaction.
async function createNode(ctx: NodesContext, req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await jsonBody(req);
  const conf = (body.configuration ?? {}) as Record<string, unknown>;
  const hostName = typeof conf.hostName === 'string' ? conf.hostName.trim() : '';
  if (!hostName) throw new NodeHttpError(400, 'configuration.hostName is required');
  const purpose = conf.nodePurpose ?? 0;
  if (![0, 1, 2].includes(purpose as number)) throw new NodeHttpError(400, 'configuration.nodePurpose must be 0 (production), 1 (development) or 2 (both)');
  const existing = await ctx.qsr.query<{ ID: string }>('SELECT "ID" FROM "ServerNodeConfigurations" WHERE lower("HostName") = lower($1)', [hostName]);
  if (existing.length) throw new NodeHttpError(409, `a node with host name ${hostName} exists already (id ${existing[0].ID})`);
  const flag = (k: string) => (conf[k] === undefined ? true : Boolean(conf[k]));
  const id = await ctx.qsr.withClient((c) =>
    inTransaction(c, async () => {
      const proxy = await c.query<{ ID: string }>('SELECT "ID" FROM "VirtualProxyConfigs" WHERE "DefaultVirtualProxy" = true LIMIT 1');
      return seedNode(c, {
        hostname: hostName, isCentral: false, name: typeof conf.name === 'string' && conf.name ? conf.name : hostName, nodePurpose: purpose as number,
        engineEnabled: flag('engineEnabled'), proxyEnabled: flag('proxyEnabled'), schedulerEnabled: flag('schedulerEnabled'), printingEnabled: flag('printingEnabled'),
        failoverCandidate: Boolean(conf.failoverCandidate),
      }, proxy.rows[0]?.ID);
    }),
  );
  ctx.log(`Node configuration created for ${hostName} (${id})`);
  const svc = async (table: string) => (await ctx.qsr.query<{ ID: string }>(`SELECT "ID" FROM "${table}" WHERE "ServerNodeConfigurationID" = $1`, [id]))[0]?.ID ?? null;
  return {
    configuration: { id }, repositoryServiceID: await svc('RepositoryServices'), engineServiceID: await svc('EngineServices'),
    proxyServiceID: await svc('ProxyServices'), schedulerServiceID: await svc('SchedulerServices'), schemaPath: 'ServerNodeResultContainer',
  };
}

// The node configuration with this id (404 when absent).
async function nodeRow(ctx: NodesContext, id: string): Promise<{ ID: string; HostName: string; IsCentral: boolean }> {
  if (!ID.test(id)) throw new NodeHttpError(400, `"${id}" is not a valid id (a GUID)`);
  const rows = await ctx.qsr.query<{ ID: string; HostName: string; IsCentral: boolean }>('SELECT "ID", "HostName", "IsCentral" FROM "ServerNodeConfigurations" WHERE "ID"::text = $1', [id]);
  if (!rows.length) throw new NodeHttpError(404, `no ServerNodeConfiguration with id ${id}`);
  return rows[0];
}

// GET /qrs/servernoderegistration/start/{id}: issue the node's set from the site CA, send it to the node's 4444 as a
// package, and return the password that unlocks it. A second call issues a new package (the old password is void).
async function startRegistration(ctx: NodesContext, id: string): Promise<string> {
  const node = await nodeRow(ctx, id);
  if (node.IsCentral) throw new NodeHttpError(400, `${node.HostName} is the central node: it is not registered`);
  const ca = await centralCa(ctx.root, ctx.serviceAccount);
  if (!ca) throw new NodeHttpError(500, 'the central node holds no CA with its private key in LocalMachine\\Root: certificates cannot be distributed');
  let address: string;
  try {
    address = await new EmulatedMachine(ctx.root, 'central').addressOf(node.HostName);
  } catch (e) {
    throw new NodeHttpError(502, `Node registration: ${node.HostName} does not resolve from the central node (${(e as Error).message})`);
  }
  const set = generateQlikCertSet(node.HostName, { ca });
  const password = randomBytes(12).toString('base64url');
  const pkg = sealPackage({ ...set, root: { certPem: set.root.certPem, keyPem: '' } }, password);
  const port = QRS_STATE_PORT + ctx.portOffset;
  let answer;
  try {
    answer = await pushPackage(address, port, pkg);
  } catch (e) {
    throw new NodeHttpError(502, `Node registration: ${node.HostName} (${address}:${port}) cannot be reached (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): check that port 4444 is open on the central node and the rim node`);
  }
  if (answer.status !== 200) throw new NodeHttpError(502, `Node registration: ${node.HostName} refused the certificate package (${answer.status} ${answer.body})`);
  ctx.log(`Certificates for ${node.HostName} distributed to ${address}:${port}; waiting for the password on the node`);
  return password;
}

// DELETE /qrs/servernodeconfiguration/{id}: the node's rows (services, settings, links, heartbeats), never the central's.
async function deleteNode(ctx: NodesContext, id: string): Promise<void> {
  const node = await nodeRow(ctx, id);
  if (node.IsCentral) throw new NodeHttpError(400, `${node.HostName} is the central node: it cannot be deleted`);
  await ctx.qsr.withClient((c) =>
    inTransaction(c, async () => {
      for (const svc of ['Repository', 'Engine', 'Proxy', 'Scheduler', 'Printing']) {
        const rows = await c.query<{ SettingsID: string }>(`DELETE FROM "${svc}Services" WHERE "ServerNodeConfigurationID" = $1 RETURNING "SettingsID"`, [id]);
        for (const r of rows.rows) {
          if (svc === 'Proxy') await c.query('DELETE FROM "VirtualProxyConfigProxyServiceSettings" WHERE "ProxyServiceSettingsID" = $1', [r.SettingsID]);
          await c.query(`DELETE FROM "${svc}ServiceSettings" WHERE "ID" = $1`, [r.SettingsID]);
        }
      }
      await c.query('DELETE FROM "VirtualProxyConfigServerNodeConfigurations" WHERE "ServerNodeConfigurationID" = $1', [id]);
      await c.query('DELETE FROM "ServerNodeHeartbeats" WHERE "ServerNodeConfigurationID" = $1', [id]);
      await c.query('DELETE FROM "ServerNodeConfigurations" WHERE "ID" = $1', [id]);
    }),
  );
  ctx.log(`Node ${node.HostName} (${id}) deleted`);
}

/** Route a node request; null when the path is not one of these endpoints. */
export async function routeNodes(ctx: NodesContext, method: string, path: string, req: IncomingMessage): Promise<{ status: number; body: unknown } | null> {
  const container = path === '/qrs/servernodeconfiguration/container';
  const reg = /^\/qrs\/servernoderegistration\/start\/([0-9a-f-]+)$/.exec(path);
  const del = method === 'DELETE' ? /^\/qrs\/servernodeconfiguration\/([0-9a-f-]{36})$/.exec(path) : null;
  if (!container && !reg && !del) return null;
  if (!ctx.isCentral) throw new NodeHttpError(403, 'nodes are added and removed on the central node only [emulator assumption]');
  if (container && method === 'GET') return { status: 200, body: emptyContainer() };
  if (container && method === 'POST') return { status: 201, body: await createNode(ctx, req) };
  if (reg && method === 'GET') return { status: 200, body: await startRegistration(ctx, reg[1]) };
  if (del) {
    await deleteNode(ctx, del[1]);
    return { status: 204, body: null };
  }
  throw new NodeHttpError(405, `${method} ${path} is not served`);
}
