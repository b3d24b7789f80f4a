// The emulated Repository.exe -bootstrap -standalone -restorehostname and the driver that answers its console.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { writeHostCfg } from '../src/emulator/qrs/host-cfg.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { runRestoreHostname, STARTUP_LINE, TERMINATED_LINE } from '../src/restore/bootstrap-run.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs } from './helpers/tmp.js';

let s: EmulatedSite;
let host: EmulatedHost;

async function centralName(): Promise<string> {
  const db = s.site.database;
  return withClient({ host: db.host, port: db.port, user: db.superuser, password: s.superuserPassword, database: 'QSR' }, async (c) => (await c.query('SELECT "HostName" FROM "ServerNodeConfigurations" WHERE "IsCentral"')).rows[0].HostName as string);
}

beforeAll(async () => {
  s = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 54000, baseAddress: '127.0.0.180', hostnames: ['qs-old.bootstrap.test'] });
  host = new EmulatedHost(s.site, s.site.nodes[0]);
  writeHostCfg(s.site.nodes[0].root!, 'qs-new.bootstrap.test'); // the machine was installed under its new name
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
}, 60_000);

describe('Repository.exe -restorehostname (emulated)', () => {
  it('rejects unknown arguments like a console program: usage and a non-zero exit', async () => {
    const r = await host.exec(host.paths.repositoryExe, ['-bootstrap', '-restorehost']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toMatch(/Usage: Repository\.exe/);
  });

  it('does not finish the hostname update while QSD is not running', async () => {
    const r = await host.exec(host.paths.repositoryExe, ['-bootstrap', '-standalone', '-restorehostname'], { env: { QSADMIN_BOOTSTRAP_QSD_TIMEOUT_MS: '1500' }, input: '\n' });
    expect(r.stdout).toContain(STARTUP_LINE);
    expect(r.stdout).not.toContain(TERMINATED_LINE);
    expect(r.exitCode).toBe(1);
    expect(await centralName()).toBe('qs-old.bootstrap.test');
  }, 30_000);

  it('updates QSR once QSD runs, issues a server certificate for the new name from the CA, and waits for ENTER', async () => {
    // A central node's set from the old hostname, as a restore imports it.
    const { createCentralCertificates } = await import('../src/emulator/qrs/certificates.js');
    await createCentralCertificates(s.site.nodes[0].root!, 'qs-old.bootstrap.test', s.site.serviceAccount);
    const logged: string[] = [];
    let startedAt = -1;
    const lines = await runRestoreHostname(host, {
      timeoutMs: 60_000,
      log: (l) => logged.push(l),
      onStartup: async () => {
        startedAt = logged.length;
        await host.services.start('QlikSenseServiceDispatcher');
      },
    });
    expect(startedAt).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes(TERMINATED_LINE))).toBe(true);
    expect(await centralName()).toBe('qs-new.bootstrap.test');
    const servers = (await host.certs.list({ location: 'LocalMachine', name: 'My' })).filter((c) => c.qlikExtension === 'Server' && c.subject !== 'QlikServiceCluster');
    expect(servers.map((c) => c.subject)).toEqual(['qs-new.bootstrap.test']);
    expect(servers[0].issuer).toBe('qs-old.bootstrap.test-CA');
    const log = fs.readdirSync(host.files.resolve('C:\\ProgramData\\Qlik\\Sense\\Log\\Repository\\System'));
    expect(log.length).toBeGreaterThan(0);
    await host.services.stop('QlikSenseServiceDispatcher');
  }, 60_000);
});
