// Day-2 operations on one three-node emulated site (127.0.0.70-.72, ports +39000) whose database is as Qlik's
// installer leaves it (md5): db harden --scram, logs collect, doctor, and certs renew of an expired set. Each runbook
// is killed with SIGKILL mid-run and resumed; dry runs and bad input change nothing.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addForeignCertificates, expireSiteCertificates } from '../src/emulator/day2/expired-certs.js';
import { writeSignatureLogs } from '../src/emulator/day2/log-signatures.js';
import { addTrustedRoots } from '../src/emulator/day2/trusted-roots.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

let site: EmulatedSite;
let stateDir: string;
const CERT_PASSWORD = 'day2-ops-pfx-password';

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: site.superuserPassword, QSADMIN_REPOSITORY_PASSWORD: site.repositoryPassword, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, ...extra };
}

function cli(args: string[], extra: Record<string, string> = {}) {
  return qsadmin([...args, '--site', site.siteFile], { env: env(extra) });
}

// The newest run of a runbook in the state dir.
function lastRun(prefix: string): string {
  return newestRun(stateDir, prefix);
}

async function allRunning(): Promise<boolean> {
  for (const n of site.site.nodes) {
    const list = await new EmulatedHost(site.site, n).services.list();
    if (list.some((x) => x.state !== 'running')) return false;
  }
  return true;
}

// What the database says: password_encryption and the hash kind of both roles.
async function dbState(): Promise<{ enc: string; repo: string; su: string }> {
  const conn = { host: site.site.database.host, port: site.site.database.port, user: 'postgres', password: site.superuserPassword, database: 'postgres' };
  return withClient(conn, async (c) => {
    const enc = (await c.query('SHOW password_encryption')).rows[0].password_encryption as string;
    const kind = async (u: string) => String((await c.query('SELECT passwd FROM pg_shadow WHERE usename = $1', [u])).rows[0].passwd).replace(/^(md5|SCRAM-SHA-256).*$/, '$1');
    return { enc, repo: await kind('qliksenserepository'), su: await kind('postgres') };
  });
}

const hba = () => fs.readFileSync(path.join(site.site.database.dataDir!, 'pg_hba.conf'), 'utf8');
const activeMethods = (text: string) => text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).map((l) => l.trim().split(/\s+/).at(-1));

beforeAll(async () => {
  stateDir = tempDir('qsadmin-day2-state-');
  site = await makeSite({ nodes: 3, layout: 'manual', size: 'tiny', portOffset: 39000, baseAddress: '127.0.0.70', startServices: true, databasePasswordEncryption: 'md5' });
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('db harden --scram', () => {
  it('refuses a repository password that does not log on, and a dry run changes nothing', async () => {
    const before = hba();
    expect(await dbState()).toEqual({ enc: 'md5', repo: 'md5', su: 'md5' });
    const wrong = await cli(['db', 'harden', '--scram', '--yes'], { QSADMIN_REPOSITORY_PASSWORD: 'not-the-password' });
    expect(wrong.exitCode, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain('qliksenserepository cannot log on');
    const dry = await cli(['db', 'harden', '--scram', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/db\.harden\.password-encryption[\s\S]*db\.harden\.password\.qliksenserepository[\s\S]*db\.harden\.pg-hba[\s\S]*db\.harden\.restart-database/);
    expect(hba()).toBe(before);
    expect(await dbState()).toEqual({ enc: 'md5', repo: 'md5', su: 'md5' });
    expect(activeMethods(before)).toContain('md5');
  }, 180_000);

  it('killed with SIGKILL while the database restarts, resumes to SCRAM hashes and pg_hba.conf with the site running', async () => {
    const original = hba();
    const killed = await cli(['db', 'harden', '--scram', '--yes'], { QSADMIN_FAULT: 'kill:db.harden.restart-database:0' });
    expect(killed.exitCode).not.toBe(0);
    const runId = lastRun('db-harden');
    const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const j = JSON.parse(resumed.stdout);
    expect(j.status).toBe('succeeded');
    expect(j.outputs['db.harden.before']).toMatchObject({ encryption: 'md5', qliksenserepository: 'md5', postgres: 'md5' });
    expect(j.outputs['db.harden.after']).toMatchObject({ encryption: 'scram-sha-256', qliksenserepository: 'scram-sha-256', postgres: 'scram-sha-256' });
    expect(JSON.stringify(j)).not.toContain(site.repositoryPassword);
    expect(await dbState()).toEqual({ enc: 'scram-sha-256', repo: 'SCRAM-SHA-256', su: 'SCRAM-SHA-256' });
    expect(activeMethods(hba())).not.toContain('md5');
    expect(activeMethods(hba())).toContain('scram-sha-256');
    expect(fs.readFileSync(path.join(site.site.database.dataDir!, 'pg_hba.conf.qsadmin-before-scram'), 'utf8')).toBe(original);
    expect(await allRunning()).toBe(true);
    expect(await new EmulatedHost(site.site, site.site.nodes[0]).services.repositoryState()).toBe(2);
    for (const f of fs.readdirSync(path.join(stateDir, 'runs', runId))) expect(fs.readFileSync(path.join(stateDir, 'runs', runId, f), 'utf8')).not.toContain(site.repositoryPassword);
  }, 180_000);

  it('--ssl prints the manual steps and reports what is missing (exit 4), changing nothing', async () => {
    const r = await cli(['db', 'harden', '--ssl']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stdout).toContain("Add 'ssl Mode=Require;'");
    expect(r.stdout).toContain('Connection String Editor');
    expect(r.stdout).toMatch(/TODO ssl-on: ssl = off/);
    expect(r.stdout).toMatch(/TODO sessions-encrypted: sessions of qliksenserepository: 0 with SSL, [1-9]\d* without/);
  }, 180_000);
});

describe('logs collect and doctor', () => {
  it('collects every node\'s logs and ArchivedLogs into a zip with the summary and the guide\'s signatures', async () => {
    writeSignatureLogs(site.site.nodes[1], ['pg-hba-no-entry', 'postgres-password-failed', 'se-security-privilege', 'error-1053', 'too-many-roots', 'patch-uninstalled']);
    const zip = path.join(tempDir(), 'logs.zip');
    const r = await cli(['logs', 'collect', '--since', '24h', '--to', zip, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(fs.statSync(zip).size).toBeGreaterThan(0);
    const ids = j.signatures.map((s: { id: string }) => s.id).sort();
    expect(ids).toEqual(['error-1053', 'patch-uninstalled', 'pg-hba-no-entry', 'postgres-password-failed', 'se-security-privilege', 'too-many-roots']);
    const pw = j.signatures.find((s: { id: string }) => s.id === 'postgres-password-failed');
    expect(pw.section).toMatch(/§3\.9/);
    expect(pw.hits[0].node).toBe('rim1');
    expect(j.counts.find((c: { node: string; service: string }) => c.node === 'rim1' && c.service === 'Repository')).toMatchObject({ fatal: 2 });
    const { execa } = await import('execa');
    const listing = String((await execa('python3', ['-c', 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print("\\n".join(z.namelist())); print(z.read("summary.txt").decode())', zip])).stdout);
    expect(listing).toContain('summary.json');
    expect(listing).toMatch(/rim1\/Log\/Repository\/System\/QS-RIM1_Service_Repository\.txt/);
    expect(listing).toMatch(/central\/Log\//);
    expect(listing).toContain('Fatal exception password authentication failed for user "postgres"');
  }, 180_000);

  it('doctor reports the checks and exits 4 when something needs attention', async () => {
    const rim2 = site.site.nodes[2];
    expect(await addTrustedRoots(rim2.root!, site.site.serviceAccount, 301)).toBeGreaterThan(300);
    const ok = await cli(['doctor', '--json']);
    const j = JSON.parse(ok.stdout);
    expect(j.checks.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(['certificates', 'services.central', 'servicestate.rim2', 'trusted-roots.central', 'clock.rim1', 'free-space.central', 'logs']));
    // the signatures written above need attention
    expect(ok.exitCode, ok.stderr).toBe(4);
    expect(j.checks.find((c: { id: string }) => c.id === 'logs').status).toBe('attention');
    expect(j.checks.find((c: { id: string }) => c.id === 'servicestate.rim2').status).toBe('ok');
    expect(j.checks.find((c: { id: string }) => c.id === 'trusted-roots.rim2')).toMatchObject({ status: 'attention', detail: expect.stringMatching(/^30\d trusted root certificates \(more than 300\)/) });
    expect(j.checks.find((c: { id: string }) => c.id === 'trusted-roots.central').status).toBe('ok');
    expect(j.checks.find((c: { id: string }) => c.id === 'clock.rim1').status).toBe('ok');
    const text = await cli(['doctor']);
    expect(text.exitCode).toBe(4);
    expect(text.stdout).toMatch(/ATTENTION trusted-roots\.rim2[\s\S]*fix: Windows truncates/);
  }, 180_000);
});

describe('certs renew', () => {
  it('refuses when nothing has expired (exit 2), stops nothing', async () => {
    const r = await cli(['certs', 'renew', '--yes']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no Qlik certificate on central has expired/);
    expect(await allRunning()).toBe(true);
  }, 180_000);

  it('renews an expired set after a SIGKILL mid-run: new set valid, /qrs/about answering, other certificates kept, follow-ups listed', async () => {
    const central = site.site.nodes[0];
    let r = await cli(['services', 'stop', '--node', 'central']);
    expect(r.exitCode, r.stderr).toBe(0);
    const expired = await expireSiteCertificates(site.site);
    const foreign = await addForeignCertificates(central.root!, site.site.serviceAccount);
    const store = new EmulatedCertStore(central.root!, site.site.serviceAccount);
    const roots = async () => (await store.list({ location: 'LocalMachine', name: 'Root' })).map((c) => c.thumbprint).sort();
    const before = await roots();

    const dry = await cli(['certs', 'renew', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/certs\.renew\.safety-export[\s\S]*certs\.renew\.stop\.central\.QRS[\s\S]*certs\.renew\.remove[\s\S]*certs\.renew\.empty-exported[\s\S]*certs\.renew\.start\.central\.QRS/);
    expect(dry.stdout).toContain('INFERENCE');
    expect(await roots()).toEqual(before);

    const killed = await cli(['certs', 'renew', '--yes'], { QSADMIN_FAULT: 'kill:certs.renew.start.central.QRS:0' });
    expect(killed.exitCode).not.toBe(0);
    const runId = lastRun('certs-renew');
    expect((await store.list({ location: 'CurrentUser', name: 'My', user: site.site.serviceAccount })).length).toBe(0); // QlikClient gone
    const resumed = await qsadmin(['runs', 'resume', runId], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('New certificate set:');
    expect(resumed.stdout).toMatch(/INFERENCE[\s\S]*rim1 \(qs-rim1\.emulated\.test\): qsadmin cluster join --rim rim1[\s\S]*rim2/);
    expect(resumed.stdout).toMatch(/re-enter the passwords of the data connections that store credentials .*: Connection 2\b/);
    expect(resumed.stdout).not.toMatch(/Connection 1\b/); // a folder connection without credentials

    // the new set: valid, not the expired one, QRS answering with it; other certificates untouched
    const check = await cli(['certs', 'check', '--node', 'central', '--json']);
    expect(check.exitCode, check.stdout).toBe(0);
    const after = await roots();
    for (const t of foreign) expect(after).toContain(t);
    expect(after).not.toContain(new X509Certificate(expired.root.certPem).fingerprint.replace(/:/g, ''));
    const j = JSON.parse((await qsadmin(['runs', 'show', runId, '--json'], { env: env() })).stdout);
    expect(JSON.stringify(j)).not.toContain(CERT_PASSWORD);
    const exportDir = path.join(stateDir, 'runs', runId, 'certs-before-renew');
    expect(fs.readdirSync(path.join(exportDir, 'central'))).toContain('server.pfx');
    expect(fs.existsSync(path.join(exportDir, 'removed', 'replaced.json'))).toBe(true);
    expect(await new EmulatedHost(site.site, central).services.repositoryState()).toBe(2);
  }, 180_000);

  it('refuses while a rim node is being joined (servicestate 1): exit 2, nothing stopped or removed', async () => {
    const rim = site.site.nodes[1];
    let r = await cli(['services', 'stop', '--node', 'rim1']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rimStore = new EmulatedCertStore(rim.root!, site.site.serviceAccount);
    for (const s of [{ location: 'LocalMachine', name: 'My' }, { location: 'LocalMachine', name: 'Root' }, { location: 'CurrentUser', name: 'My', user: site.site.serviceAccount }, { location: 'CurrentUser', name: 'Root', user: site.site.serviceAccount }] as const) {
      for (const c of await rimStore.list(s)) await rimStore.remove(s, c.thumbprint);
    }
    // QSD and QRS only (as a node that waits for its certificate package runs them); `services start` would wait for servicestate 2
    const rimHost = new EmulatedHost(site.site, rim);
    await rimHost.services.start('QlikSenseServiceDispatcher');
    await rimHost.services.start('QlikSenseRepositoryService');
    await expect.poll(() => rimHost.services.repositoryState(), { timeout: 30_000, interval: 250 }).toBe(1);
    const central = new EmulatedCertStore(site.site.nodes[0].root!, site.site.serviceAccount);
    const before = (await central.list({ location: 'LocalMachine', name: 'My' })).map((c) => c.thumbprint).sort();
    const refused = await cli(['certs', 'renew', '--force', '--yes']);
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('rim node rim1 is waiting for its certificates');
    expect((await central.list({ location: 'LocalMachine', name: 'My' })).map((c) => c.thumbprint).sort()).toEqual(before);
    const list = await new EmulatedHost(site.site, site.site.nodes[0]).services.list();
    expect(list.every((x) => x.state === 'running')).toBe(true);
    // the follow-up the renewal names: the rim, waiting at servicestate 1, registered again under the new CA
    const join = await cli(['cluster', 'join', '--rim', 'rim1', '--yes']);
    expect(join.exitCode, join.stderr).toBe(0);
    expect(await rimHost.services.repositoryState()).toBe(2);
  }, 180_000);
});
