// Integration test of the emulated single-node site: start order, QRS over mTLS with Xrfkey checks, dependency and
// database refusals, stop order and timeouts, QRS certificate rules at start, the Host.cfg assumption, clean destroy.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCA, generateQlikCertSet } from '../src/certs/generate.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { openHost } from '../src/host/index.js';
import { readHostCfg, writeHostCfg } from '../src/emulator/qrs/host-cfg.js';
import { localCertificatesDir } from '../src/emulator/qrs/certificates.js';
import { servicePorts } from '../src/emulator/services/ports.js';
import { readState } from '../src/emulator/services/state.js';
import { createEmulatedSite, destroySite, startSite, stopSite, type EmulatedSite } from '../src/emulator/site.js';
import { loadSiteConfig } from '../src/site/config.js';
import type { SiteConfig, NodeConfig } from '../src/site/model.js';
import type { ServiceName } from '../src/site/services.js';

const OFFSET = 21_000;
const ADDRESS = '127.0.0.21';
const XRF = 'abcdefghij012345';
const USER = 'UserDirectory=INTERNAL; UserId=sa_api';
const LOCAL_MACHINE_ROOT = { location: 'LocalMachine', name: 'Root' } as const;

let dir: string;
let created: EmulatedSite;
let site: SiteConfig;
let node: NodeConfig;
let host: EmulatedHost;
const seenPids = new Set<number>();

interface Reply {
  status: number;
  body: string;
}

// GET a QRS path over HTTPS with the exported client certificate (unless told otherwise).
function qrsGet(p: string, o: { headers?: Record<string, string>; withClientCert?: boolean; port?: number; address?: string; servername?: string; pems?: string } = {}): Promise<Reply> {
  const pems = o.pems ?? localCertificatesDir(node.root!);
  const read = (f: string) => fs.readFileSync(path.join(pems, f));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: o.address ?? node.address,
        port: o.port ?? 4242 + OFFSET,
        servername: o.servername ?? node.hostname,
        path: p,
        method: 'GET',
        ca: read('root.pem'),
        ...(o.withClientCert === false ? {} : { cert: read('client.pem'), key: read('client_key.pem') }),
        headers: o.headers ?? { 'X-Qlik-Xrfkey': XRF, 'X-Qlik-User': USER },
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// Remember the pids of the node's services, to check at the end that none survives destroySite.
function notePids(): void {
  for (const n of site.nodes) {
    for (const f of fs.readdirSync(path.join(n.root!, '.emulator', 'services')).filter((x) => x.endsWith('.json'))) {
      const st = readState(n.root!, f.slice(0, -5));
      if (st?.pid) seenPids.add(st.pid);
    }
  }
}

// The System log of QRS on the node.
function repositoryLog(): string {
  const logDir = path.join(node.root!, 'ProgramData', 'Qlik', 'Sense', 'Log', 'Repository', 'System');
  return fs.readdirSync(logDir).map((f) => fs.readFileSync(path.join(logDir, f), 'utf8')).join('\n');
}

// A copy of the site config with emulator options changed.
function withEmulator(changes: Record<string, unknown>): SiteConfig {
  return { ...site, emulator: { ...site.emulator, ...changes } };
}

// True when a pid is alive.
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('emulated single-node site', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-emu-'));
    created = await createEmulatedSite({
      dir, nodes: 1, layout: 'manual', databaseService: 'QlikSenseRepositoryDatabase', size: 'tiny',
      portOffset: OFFSET, baseAddress: ADDRESS, startServices: false, emulator: { stopTimeoutMs: 10_000, qrsInitDelayMs: 300 },
    });
    site = created.site;
    node = site.nodes[0];
    host = (await openHost(site, 'central')) as EmulatedHost;
    process.stderr.write(`emulator-site: site created in ${Date.now() - t0} ms\n`);
  });

  afterAll(async () => {
    if (dir) await destroySite(dir);
  });

  it('lays out the node like Windows and keeps the password out of site.json', async () => {
    const siteJson = fs.readFileSync(created.siteFile, 'utf8');
    expect(siteJson).not.toContain(created.superuserPassword);
    expect(siteJson).not.toContain(created.repositoryPassword);
    expect(loadSiteConfig(created.siteFile)).toEqual(site);
    expect(fs.statSync(path.join(dir, 'secrets', 'db-password')).mode & 0o777).toBe(0o600);
    expect(readHostCfg(node.root!)).toBe(node.hostname);
    const hostCfg = (await host.files.read('C:\\ProgramData\\Qlik\\Sense\\Host.cfg')).toString('utf8');
    expect(Buffer.from(hostCfg, 'base64').toString('utf8')).toBe(node.hostname);
    const config = (await host.files.read(host.paths.configFiles[0])).toString('utf8');
    expect(config).toContain('<CipherValue>');
    expect(config).not.toContain(created.repositoryPassword);
    for (const f of host.paths.configFiles) expect(await host.files.exists(f)).toBe(true);
    expect(site.database.dataDir).toContain(path.join('ProgramData', 'Qlik', 'Sense', 'Repository', 'PostgreSQL'));
    expect(fs.statSync(site.database.dataDir!).uid).not.toBe(0);
    expect(servicePorts(site, node, 'QlikSenseProxyService')).toEqual([443 + OFFSET, 4243 + OFFSET]);
    expect(servicePorts(withEmulator({ enableHttpPort: true }), node, 'QlikSenseProxyService')).toEqual([80 + OFFSET, 443 + OFFSET, 4243 + OFFSET]);
    const bootstrap = await host.exec('C:\\Program Files\\Qlik\\Sense\\Repository\\Repository.exe', ['-bootstrap']);
    expect(bootstrap.exitCode).toBe(1); // bootstrap mode is emulated: it refuses while QRS runs or QSD does not
    expect(bootstrap.stdout).toMatch(/\[ERROR\] The Qlik Sense (Repository Service is running|Service Dispatcher is not running)/);
    expect((await host.exec('C:\\Program Files\\Qlik\\Sense\\Nothing.exe', [])).exitCode).toBe(9009);
  });

  it('starts in order: database, QSD, QRS, then QPS/QES/QSS/QPR', async () => {
    await startSite(site);
    notePids();
    const states = await host.services.list();
    expect(states.map((s) => [s.name, s.state])).toEqual(states.map((s) => [s.name, 'running']));
    const at = (n: ServiceName) => Date.parse(readState(node.root!, n)!.startedAt);
    expect(at('QlikSenseServiceDispatcher')).toBeLessThan(at('QlikSenseRepositoryService'));
    for (const n of ['QlikSenseProxyService', 'QlikSenseEngineService', 'QlikSenseSchedulerService', 'QlikSensePrintingService'] as const) {
      expect(at('QlikSenseRepositoryService')).toBeLessThan(at(n));
    }
    expect(await host.services.repositoryState()).toBe(2);
    expect(fs.existsSync(path.join(localCertificatesDir(node.root!), 'client_key.pem'))).toBe(true);
  });

  it('answers GET /qrs/about over mTLS with the exported client certificate', async () => {
    const about = await qrsGet(`/qrs/about?Xrfkey=${XRF}`);
    expect(about.status).toBe(200);
    expect(JSON.parse(about.body)).toMatchObject({ databaseProvider: 'Devart.Data.PostgreSql', nodeType: 1, sharedPersistence: true, requiresBootstrap: false, schemaPath: 'About' });
    expect((await qrsGet(`/ssl/ping?xrfkey=${XRF}`)).body).toBe('Ping successful');
    const local = JSON.parse((await qrsGet(`/qrs/servernodeconfiguration/local?xrfkey=${XRF}`)).body);
    expect(local).toMatchObject({ hostName: node.hostname, isCentral: true });
    const count = JSON.parse((await qrsGet(`/qrs/app/count?xrfkey=${XRF}`)).body);
    expect(typeof count.value).toBe('number');
    expect(JSON.parse((await qrsGet(`/qrs/systemrule/full?xrfkey=${XRF}`)).body).length).toBeGreaterThan(0);
  });

  it('refuses requests without a client certificate, without Xrfkey, with different keys or without a user', async () => {
    await expect(qrsGet(`/qrs/about?Xrfkey=${XRF}`, { withClientCert: false })).rejects.toThrow();
    const noKey = await qrsGet('/qrs/about', { headers: { 'X-Qlik-User': USER } });
    expect(noKey.status).toBe(403);
    expect(noKey.body).toContain('XSRF');
    const mismatch = await qrsGet(`/qrs/about?Xrfkey=${XRF}`, { headers: { 'X-Qlik-Xrfkey': 'ABCDEFGHIJ012345', 'X-Qlik-User': USER } });
    expect(mismatch.status).toBe(403);
    const short = await qrsGet('/qrs/about?Xrfkey=abc', { headers: { 'X-Qlik-Xrfkey': 'abc', 'X-Qlik-User': USER } });
    expect(short.status).toBe(400);
    const noUser = await qrsGet(`/qrs/about?Xrfkey=${XRF}`, { headers: { 'X-Qlik-Xrfkey': XRF } });
    expect(noUser.status).toBe(403);
  });

  it('stops in reverse order and keeps the database running', async () => {
    await stopSite(site, { database: false });
    const at = (n: ServiceName) => Date.parse(readState(node.root!, n)!.stoppedAt!);
    for (const n of ['QlikSenseProxyService', 'QlikSenseEngineService', 'QlikSenseSchedulerService', 'QlikSensePrintingService'] as const) {
      expect(at(n)).toBeLessThanOrEqual(at('QlikSenseRepositoryService'));
    }
    expect(at('QlikSenseRepositoryService')).toBeLessThanOrEqual(at('QlikSenseServiceDispatcher'));
    const states = await host.services.list();
    expect(states.filter((s) => s.state === 'running').map((s) => s.name)).toEqual(['QlikSenseRepositoryDatabase']);
  });

  it('keeps a service running after the process that started it has exited', async () => {
    const url = (f: string) => JSON.stringify(pathToFileURL(path.resolve(f)).href);
    const script = [
      `const { openHost } = await import(${url('src/host/index.ts')});`,
      `const { loadEmulatedSite } = await import(${url('src/emulator/site.ts')});`,
      `const h = await openHost(loadEmulatedSite(process.env.SITE_DIR), 'central');`,
      `await h.services.start('QlikSenseServiceDispatcher');`,
      `console.log((await h.services.status('QlikSenseServiceDispatcher')).pid);`,
    ].join('\n');
    const r = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { SITE_DIR: dir }, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const pid = Number(r.stdout.trim());
    const status = await host.services.status('QlikSenseServiceDispatcher');
    expect(status).toEqual({ name: 'QlikSenseServiceDispatcher', state: 'running', pid });
    seenPids.add(pid);
  });

  it('refuses to start QES before QRS, naming QRS', async () => {
    await host.services.start('QlikSenseServiceDispatcher');
    await expect(host.services.start('QlikSenseEngineService')).rejects.toThrow(/dependency service 'Qlik Sense Repository Service \(QlikSenseRepositoryService\)' is not running/);
    expect((await host.services.status('QlikSenseEngineService')).state).toBe('stopped');
  });

  it('refuses to start QRS while the repository database is stopped, naming the database', async () => {
    await host.services.stop('QlikSenseRepositoryDatabase');
    try {
      await expect(host.services.start('QlikSenseRepositoryService')).rejects.toThrow(/repository database .*not reachable.*QlikSenseRepositoryDatabase/s);
    } finally {
      await host.services.start('QlikSenseRepositoryDatabase');
    }
  });

  it('reports servicestate 0 while QRS initializes, then 2', async () => {
    const seen = new Set<number | null>();
    let done = false;
    const starting = host.services.start('QlikSenseRepositoryService').finally(() => (done = true));
    while (!done) {
      seen.add(await host.services.repositoryState());
      await new Promise((r) => setTimeout(r, 40));
    }
    await starting;
    notePids();
    expect(seen.has(0)).toBe(true);
    expect(await host.services.repositoryState()).toBe(2);
  });

  it('times out stopping a service that hangs on stop (fault hangOnStop)', async () => {
    const faulty = new EmulatedHost(withEmulator({ faults: { hangOnStop: ['QlikSensePrintingService'] } }), node);
    await faulty.services.start('QlikSensePrintingService');
    notePids();
    const pid = (await faulty.services.status('QlikSensePrintingService')).pid!;
    await expect(faulty.services.stop('QlikSensePrintingService', { timeoutMs: 1000 })).rejects.toThrow('service QlikSensePrintingService did not stop within 1s');
    expect((await faulty.services.status('QlikSensePrintingService')).state).toBe('stop_pending');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 40 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await faulty.services.status('QlikSensePrintingService')).state).toBe('stopped');
  });

  it('ends the process of a service stuck stopping only when asked (--end-stuck-services)', async () => {
    const faulty = new EmulatedHost(withEmulator({ faults: { hangOnStop: ['QlikSensePrintingService'] } }), node);
    await faulty.services.start('QlikSensePrintingService');
    notePids();
    const pid = (await faulty.services.status('QlikSensePrintingService')).pid!;
    expect(await faulty.services.stop('QlikSensePrintingService', { timeoutMs: 500, endStuckProcess: true })).toEqual({ endedProcess: pid });
    for (let i = 0; i < 40 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50)); // reaped by its parent
    expect(alive(pid)).toBe(false);
    expect((await faulty.services.status('QlikSensePrintingService')).state).toBe('stopped');
  });

  it('reports a service that crashes at start (fault failToStart) as Windows error 1067', async () => {
    const faulty = new EmulatedHost(withEmulator({ faults: { failToStart: ['QlikSenseSchedulerService'] } }), node);
    await expect(faulty.services.start('QlikSenseSchedulerService')).rejects.toThrow(/Windows error 1067.*emulated fault failToStart/s);
    notePids();
    expect((await faulty.services.status('QlikSenseSchedulerService')).state).toBe('stopped');
  });

  it('stops QRS fatally when LocalMachine\\Root holds a second root certificate, and logs it', async () => {
    await host.services.stop('QlikSenseRepositoryService');
    const intruder = generateCA('intruder-CA');
    const added = await host.certs.put(LOCAL_MACHINE_ROOT, intruder);
    try {
      await expect(host.services.start('QlikSenseRepositoryService')).rejects.toThrow(/terminated unexpectedly.*more than one root certificate/s);
      expect((await host.services.status('QlikSenseRepositoryService')).state).toBe('stopped');
      expect(repositoryLog()).toMatch(/FATAL\t.*more than one root certificate/);
    } finally {
      await host.certs.remove(LOCAL_MACHINE_ROOT, added.thumbprint);
    }
  });

  it('deletes all QlikClient certificates at QRS start when there are duplicates, and logs it', async () => {
    expect((await host.services.status('QlikSenseRepositoryService')).state).toBe('stopped');
    const clientStore = { location: 'CurrentUser', name: 'My', user: site.serviceAccount } as const;
    const ca = { certPem: fs.readFileSync(path.join(localCertificatesDir(node.root!), 'root.pem'), 'utf8'), keyPem: await host.certs.privateKeyPem(LOCAL_MACHINE_ROOT, (await host.certs.list(LOCAL_MACHINE_ROOT))[0].thumbprint) ?? '' };
    const second = generateQlikCertSet(node.hostname, { ca });
    await host.certs.put(clientStore, second.client);
    expect((await host.certs.list(clientStore)).filter((c) => c.subject === 'QlikClient')).toHaveLength(2);
    await host.services.start('QlikSenseRepositoryService');
    notePids();
    expect(await host.services.repositoryState()).toBe(2);
    expect((await host.certs.list(clientStore)).filter((c) => c.subject === 'QlikClient')).toHaveLength(0);
    expect(repositoryLog()).toMatch(/2 client certificates found.*deleting all of them/);
    expect(repositoryLog()).toMatch(/deleted duplicate certificate/);
  });

  it('refuses a Host.cfg hostname that QSR does not know, unless the assumption is switched off', async () => {
    await host.services.stop('QlikSenseRepositoryService');
    writeHostCfg(node.root!, 'renamed.emulated.test');
    try {
      await expect(host.services.start('QlikSenseRepositoryService')).rejects.toThrow(/"renamed.emulated.test" in Host.cfg is not a node of this site.*hostnameMustMatch/s);
      const relaxed = new EmulatedHost(withEmulator({ assumptions: { hostnameMustMatch: false } }), node);
      await relaxed.services.start('QlikSenseRepositoryService');
      notePids();
      expect((await relaxed.services.status('QlikSenseRepositoryService')).state).toBe('running');
      expect(repositoryLog()).toContain('Continuing: site.emulator.assumptions.hostnameMustMatch is false');
      await relaxed.services.stop('QlikSenseRepositoryService');
    } finally {
      writeHostCfg(node.root!, node.hostname);
    }
  });

  it('loses the database after a while with fault databaseGoesAwayAfterMs, and QRS answers 500 until it is back', async () => {
    await host.services.start('QlikSenseRepositoryService');
    notePids();
    const faulty = new EmulatedHost(withEmulator({ faults: { databaseGoesAwayAfterMs: 300 } }), node);
    await faulty.services.stop('QlikSenseRepositoryDatabase');
    await faulty.services.start('QlikSenseRepositoryDatabase');
    notePids();
    for (let i = 0; i < 100 && (await host.services.status('QlikSenseRepositoryDatabase')).state === 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await host.services.status('QlikSenseRepositoryDatabase')).state).toBe('stopped');
    const down = await qrsGet(`/qrs/app/count?xrfkey=${XRF}`);
    expect(down.status).toBe(500);
    expect(down.body).toContain('repository database QSR');
    await host.services.start('QlikSenseRepositoryDatabase');
    expect((await qrsGet(`/qrs/app/count?xrfkey=${XRF}`)).status).toBe(200);
  });

  it('leaves no process behind after destroySite', async () => {
    await host.services.start('QlikSenseProxyService');
    notePids();
    const postmaster = (await host.services.status('QlikSenseRepositoryDatabase')).pid!;
    expect(alive(postmaster)).toBe(true);
    await destroySite(dir);
    expect(fs.existsSync(dir)).toBe(false);
    expect([...seenPids].filter(alive)).toEqual([]);
    expect(alive(postmaster)).toBe(false);
  });
});
