// Integration test of an emulated three-node site: one database on the central node, rim nodes with certificates
// issued by the central CA, a rim without certificates in servicestate 1, and a clean destroy.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../src/postgres/client.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { localCertificatesDir, qrsStores } from '../src/emulator/qrs/certificates.js';
import { listStates } from '../src/emulator/services/state.js';
import { nodeProcesses } from '../src/emulator/services/reaper.js';
import { createEmulatedSite, destroySite, stopSite, type EmulatedSite } from '../src/emulator/site.js';
import type { NodeConfig, SiteConfig } from '../src/site/model.js';

const OFFSET = 22_000;
const XRF = '0123456789abcdef';

let dir: string;
let created: EmulatedSite;
let site: SiteConfig;
const hosts: Record<string, EmulatedHost> = {};
const seenPids = new Set<number>();

// GET a QRS path on a node with the central node's exported client certificate.
function qrsGet(node: NodeConfig, p: string): Promise<{ status: number; body: string }> {
  const pems = localCertificatesDir(site.nodes[0].root!);
  const read = (f: string) => fs.readFileSync(path.join(pems, f));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: node.address, port: 4242 + OFFSET, servername: node.hostname, path: p, method: 'GET',
        ca: read('root.pem'), cert: read('client.pem'), key: read('client_key.pem'),
        headers: { 'X-Qlik-Xrfkey': XRF, 'X-Qlik-User': 'UserDirectory=INTERNAL; UserId=sa_api' }, timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// POST the certificate unlock form to a node's port 4570.
function postUnlock(node: NodeConfig, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: node.address, port: 4570 + OFFSET, path: '/certificateSetup', method: 'POST', localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('__pwd=secret');
  });
}

// Remember every pid the site's nodes recorded.
function notePids(): void {
  for (const n of site.nodes) for (const st of listStates(n.root!)) seenPids.add(st.pid);
}

// True when a pid is alive (not a zombie).
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('emulated three-node site', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-emu3-'));
    created = await createEmulatedSite({
      dir, nodes: 3, layout: 'installer', databaseService: 'postgresql-x64-14', size: 'tiny', portOffset: OFFSET,
      baseAddress: '127.0.0.31', shareOutside: true, startServices: true, emulator: { qrsInitDelayMs: 100 },
    });
    site = created.site;
    for (const n of site.nodes) hosts[n.name] = new EmulatedHost(site, n);
    notePids();
    process.stderr.write(`emulator-multinode: site created and started in ${Date.now() - t0} ms\n`);
  });

  afterAll(async () => {
    if (dir) await destroySite(dir);
  });

  it('runs every Qlik service on every node and the database only on the central node', async () => {
    for (const n of site.nodes) {
      const states = await hosts[n.name].services.list();
      expect(states.every((s) => s.state === 'running')).toBe(true);
      expect(states.some((s) => s.name === 'postgresql-x64-14')).toBe(n.role === 'central');
      expect(await hosts[n.name].services.repositoryState()).toBe(2);
    }
    expect((await hosts.rim1.services.status('postgresql-x64-14')).state).toBe('absent');
    await expect(hosts.rim1.services.start('postgresql-x64-14')).rejects.toThrow(/Cannot find any service with service name 'postgresql-x64-14' on node rim1/);
    expect(site.database.dataDir).toBe(path.join(site.nodes[0].root!, 'Program Files', 'PostgreSQL', '14', 'data'));
  });

  it('gives rim nodes server certificates issued by the central CA, without the CA key', async () => {
    const caName = `${site.nodes[0].hostname}-CA`;
    for (const rim of site.nodes.slice(1)) {
      const my = await hosts[rim.name].certs.list({ location: 'LocalMachine', name: 'My' });
      const server = my.find((c) => c.subject === rim.hostname)!;
      expect(server.issuer).toBe(caName);
      expect(server.hasPrivateKey).toBe(true);
      const roots = await hosts[rim.name].certs.list({ location: 'LocalMachine', name: 'Root' });
      expect(roots.map((r) => [r.subject, r.hasPrivateKey])).toEqual([[caName, false]]);
    }
  });

  it('serves QRS on every node from the one QSR', async () => {
    const nodes = JSON.parse((await qrsGet(site.nodes[0], `/qrs/servernodeconfiguration/full?xrfkey=${XRF}`)).body) as Array<{ hostName: string; isCentral: boolean }>;
    expect(nodes.map((n) => n.hostName).sort()).toEqual(site.nodes.map((n) => n.hostname).sort());
    const rimAbout = JSON.parse((await qrsGet(site.nodes[2], `/qrs/about?xrfkey=${XRF}`)).body);
    expect(rimAbout.nodeType).toBe(2);
    const local = JSON.parse((await qrsGet(site.nodes[1], `/qrs/servernodeconfiguration/local?xrfkey=${XRF}`)).body);
    expect(local).toMatchObject({ hostName: site.nodes[1].hostname, isCentral: false });
  });

  it('keeps ArchivedLogs outside the share root when asked', async () => {
    const db = site.database;
    const rows = await withClient({ host: db.host, port: db.port, user: db.superuser, password: created.superuserPassword, database: 'QSR' }, async (c) =>
      (await c.query<{ RootFolder: string; ArchivedLogsRootFolder: string }>('SELECT "RootFolder", "ArchivedLogsRootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"')).rows,
    );
    expect(rows[0].RootFolder).toBe(site.shareRoot);
    expect(rows[0].ArchivedLogsRootFolder.startsWith(site.shareRoot + path.sep)).toBe(false);
  });

  it('reports servicestate 1 on a rim node without certificates, with the unlock port open', async () => {
    const rim = site.nodes[2];
    const h = hosts[rim.name];
    for (const s of ['QlikSensePrintingService', 'QlikSenseSchedulerService', 'QlikSenseEngineService', 'QlikSenseProxyService', 'QlikSenseRepositoryService'] as const) await h.services.stop(s);
    for (const store of qrsStores(site.serviceAccount)) for (const c of await h.certs.list(store)) await h.certs.remove(store, c.thumbprint);
    await h.services.start('QlikSenseRepositoryService');
    notePids();
    expect((await h.services.status('QlikSenseRepositoryService')).state).toBe('running');
    expect(await h.services.repositoryState()).toBe(1);
    expect(await postUnlock(rim)).toBe(403); // from another address: the port answers only localhost
    expect(await postUnlock(rim, rim.address)).toBe(409); // from the node itself, before any package was distributed
    expect(await h.certs.list({ location: 'LocalMachine', name: 'My' })).toEqual([]);
  });

  it('stops the whole site, database last, and leaves no process after destroySite', async () => {
    await stopSite(site);
    for (const n of site.nodes) expect((await hosts[n.name].services.list()).filter((s) => s.state !== 'stopped')).toEqual([]);
    await destroySite(dir);
    expect(fs.existsSync(dir)).toBe(false);
    expect([...seenPids].filter(alive)).toEqual([]);
    for (const n of site.nodes) expect(nodeProcesses(n.root!)).toEqual([]);
  });
});
