// Qlik Alerting beside an emulated site: backup with the site (mongodump the seed's way through the fake tools),
// verify, restore --only alerting (mongorestore --drop), and `alerting check` with each failure it reports.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { readCollection, writeCollection } from '../src/emulator/alerting/store.js';
import { validateSite } from '../src/site/config.js';
import { readAlertingSettings } from '../src/alerting/config.js';
import { Redactor } from '../src/runbook/redact.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'alerting-test-pfx-password';
const MONGO_PASSWORD = 'mongo-secret-Pa55:@/word';

let site: EmulatedSite;
let stateDir: string;
let target: string;
let root: string;

const env = () => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD });
const dbPath = () => path.join(root, 'Program Files', 'MongoDB', 'Server', '4.2', 'data');
const toolCalls = () =>
  fs.existsSync(path.join(root, '.emulator', 'mongo-tools.jsonl'))
    ? fs.readFileSync(path.join(root, '.emulator', 'mongo-tools.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tool: string; argv: string[] })
    : [];
const host = () => new EmulatedHost(site.site, site.site.nodes[0]);

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ size: 'tiny', portOffset: 37000, baseAddress: '127.0.0.62', startServices: true, alerting: { mongoUser: { name: 'qlikalerting', password: MONGO_PASSWORD } } });
  root = site.site.nodes[0].root!;
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('backup create with Alerting configured', () => {
  it("joins MongoDB's password from default.json to the run's secrets, so logs and outputs never show it", async () => {
    const redactor = new Redactor();
    const root = site.site.nodes[0].root!;
    const file = 'C:\\Program Files\\Qlik Alerting\\config\\default.json';
    expect(fs.readFileSync(path.join(root, 'Program Files', 'Qlik Alerting', 'config', 'default.json'), 'utf8')).toContain(encodeURIComponent(MONGO_PASSWORD));
    const settings = await readAlertingSettings(host(), file, redactor);
    expect(settings.mongo.password).toBe(MONGO_PASSWORD);
    expect(redactor.text(`mongodump said: ${MONGO_PASSWORD}`)).toBe('mongodump said: ***');
  });

  let setDir: string;
  it('adds alerting/: the mongodump folder, default.json and the certificates, in the manifest, and verifies', async () => {
    const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json', '--skip-share', '--no-logs'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    setDir = JSON.parse(r.stdout).outputs.backup.dir;
    const m = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
    const paths = m.files.filter((f: { kind: string }) => f.kind.startsWith('alerting-')).map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual([
      'alerting/config/certificates/CA.crt',
      'alerting/config/certificates/server.pem',
      'alerting/config/certificates/server_key.pem',
      'alerting/config/default.json',
      'alerting/dump/qlikalerting/alerts.bson',
      'alerting/dump/qlikalerting/alerts.metadata.json',
      'alerting/dump/qlikalerting/users.bson',
      'alerting/dump/qlikalerting/users.metadata.json',
      'alerting/summary.json',
    ]);
    // Secrets in the set are readable by the owner only.
    expect(fs.statSync(path.join(setDir, 'alerting/config/certificates/server_key.pem')).mode & 0o077).toBe(0);
    expect(fs.statSync(path.join(setDir, 'alerting/config/default.json')).mode & 0o077).toBe(0);
    // The seed's command, with the connection and the password file beside it: never the password itself.
    const dumps = toolCalls().filter((c) => c.tool === 'mongodump' && !c.argv.includes('--version'));
    expect(dumps).toHaveLength(1);
    const argv = dumps[0].argv;
    expect(argv).toContain('--db=qlikalerting');
    expect(argv).toContain(`--out=${path.join(setDir, 'alerting', 'dump')}`);
    expect(argv.some((a) => a.startsWith('--config='))).toBe(true);
    expect(JSON.stringify(toolCalls())).not.toContain(MONGO_PASSWORD);
    expect(r.stdout + r.stderr).not.toContain(MONGO_PASSWORD);
    // The config file is gone after the run.
    const cfg = argv.find((a) => a.startsWith('--config='))!.slice('--config='.length);
    expect(fs.existsSync(cfg)).toBe(false);
    const v = await qsadmin(['backup', 'verify', setDir, '--json'], { env: env() });
    expect(v.exitCode, v.stdout + v.stderr).toBe(0);
  }, 90_000);

  it('verify fails on a damaged BSON file even with a matching checksum list', async () => {
    const copy = path.join(tempDir(), 'set');
    fs.cpSync(setDir, copy, { recursive: true });
    const f = path.join(copy, 'alerting/dump/qlikalerting/users.bson');
    fs.chmodSync(f, 0o600);
    fs.appendFileSync(f, Buffer.from([1, 2, 3]));
    const v = await qsadmin(['backup', 'verify', copy, '--json'], { env: env() });
    expect(v.exitCode).toBe(4);
    expect(v.stdout).toContain('users.bson');
  }, 30_000);

  describe('restore --only alerting', () => {
    it('puts back the database (documents added since are gone), default.json and the certificates; the Gateway answers', async () => {
      const users = readCollection(dbPath(), 'qlikalerting', 'users');
      writeCollection(dbPath(), 'qlikalerting', 'users', [...users, { _id: { $oid: '65f0000000000000000000ff' }, userId: 'late', name: 'Added after the backup', role: 'user', licenses: [] }]);
      const defaultJson = path.join(root, 'Program Files', 'Qlik Alerting', 'config', 'default.json');
      const before = fs.readFileSync(defaultJson, 'utf8');
      fs.writeFileSync(defaultJson, before.replace('"hstsMaxAge": 31536000', '"hstsMaxAge": 0'));
      fs.rmSync(path.join(root, 'Program Files', 'Qlik Alerting', 'config', 'certificates', 'CA.crt'));
      const r = await qsadmin(['restore', setDir, '--site', site.siteFile, '--only', 'alerting', '--yes', '--json'], { env: env() });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(readCollection(dbPath(), 'qlikalerting', 'users')).toEqual(users);
      expect(fs.readFileSync(defaultJson, 'utf8')).toBe(before);
      expect(fs.existsSync(path.join(root, 'Program Files', 'Qlik Alerting', 'config', 'certificates', 'CA.crt'))).toBe(true);
      const restores = toolCalls().filter((c) => c.tool === 'mongorestore' && !c.argv.includes('--version'));
      expect(restores).toHaveLength(1);
      expect(restores[0].argv.slice(-2)).toEqual(['--drop', path.join(setDir, 'alerting', 'dump')]);
      expect(JSON.stringify(toolCalls())).not.toContain(MONGO_PASSWORD);
      // The safety dump of the database as it was, with the late user in it.
      const out = JSON.parse(r.stdout).outputs;
      expect(fs.readFileSync(path.join(out['alerting.safety'], 'qlikalerting', 'users.bson')).includes(Buffer.from('Added after the backup'))).toBe(true);
      expect((await host().services.status('QlikAlertingGateway' as never)).state).toBe('running');
    }, 90_000);

    it('refuses --only alerting with other parts, a set without Alerting, and a run without --yes, as bad input', async () => {
      const calls = toolCalls().length;
      const r = await qsadmin(['restore', setDir, '--site', site.siteFile, '--only', 'alerting,db', '--yes'], { env: env() });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/--only alerting/);
      const noYes = await qsadmin(['restore', setDir, '--site', site.siteFile, '--only', 'alerting'], { env: env() });
      expect(noYes.exitCode).toBe(2);
      expect(noYes.stderr).toMatch(/--yes/);
      const copy = path.join(tempDir(), 'set');
      fs.cpSync(setDir, copy, { recursive: true });
      const mf = path.join(copy, 'manifest.json');
      const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
      m.files = m.files.filter((f: { kind: string }) => !f.kind.startsWith('alerting-'));
      fs.chmodSync(mf, 0o600);
      fs.writeFileSync(mf, JSON.stringify(m));
      const none = await qsadmin(['restore', copy, '--site', site.siteFile, '--only', 'alerting', '--yes'], { env: env() });
      expect(none.exitCode).toBe(2);
      expect(none.stderr).toMatch(/no Alerting part/);
      // --dry-run prints the plan and runs no tool.
      const dry = await qsadmin(['restore', setDir, '--site', site.siteFile, '--only', 'alerting', '--dry-run'], { env: env() });
      expect(dry.exitCode, dry.stderr).toBe(0);
      expect(dry.stdout + dry.stderr).toMatch(/mongorestore --drop/);
      expect(toolCalls().length).toBe(calls);
    }, 30_000);
  });
});

describe('the site config\'s alerting part', () => {
  it('is checked: the node must be one of the site\'s, folders Windows paths, no unknown key', () => {
    const base = JSON.parse(fs.readFileSync(site.siteFile, 'utf8'));
    const bad = (alerting: unknown) => () => validateSite({ ...base, alerting }, 'site.json');
    expect(bad({ node: 'central' })).not.toThrow();
    expect(bad({ node: 'nowhere' })).toThrow(/alerting.node must name the node Qlik Alerting runs on, one of: central/);
    expect(bad({ node: 'central', installDir: 'relative\\path' })).toThrow(/alerting.installDir must be an absolute Windows folder path/);
    expect(bad({ node: 'central', mongoUri: 'mongodb://x' })).toThrow(/"mongoUri" is not a site config key/);
  });
});

describe('the fake MongoDB tools take the real syntax only', () => {
  const bin = 'C:\\Program Files\\MongoDB\\Server\\4.2\\bin';
  const run = (tool: string, args: string[]) => host().exec(`${bin}\\${tool}.exe`, args);
  it('refuse unknown options, values on bool options, missing values and stray arguments (exit 3, ExitBadOptions)', async () => {
    for (const [tool, args, msg] of [
      ['mongodump', ['--database=qlikalerting'], "unknown flag `database'"],
      ['mongorestore', ['--drop=true', 'dump'], "bool flag `--drop' cannot have an argument"],
      ['mongodump', ['--db'], "expected argument for flag `--db'"],
      ['mongodump', ['--db=qlikalerting', 'Backup Name'], 'positional arguments not allowed'],
      ['mongorestore', ['a', 'b'], 'too many positional arguments'],
    ] as Array<[string, string[], string]>) {
      const r = await run(tool, args);
      expect(r.exitCode, `${tool} ${args.join(' ')}`).toBe(3);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).toContain(`try '${tool} --help' for more information`);
    }
  });
  it('refuse real options the stand-in does not implement by name, and report their Database Tools version', async () => {
    const r = await run('mongodump', ['--db=qlikalerting', '--archive=x.gz', '--gzip']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--(archive|gzip) is a real option that this stand-in does not implement/);
    expect((await run('mongorestore', ['--version'])).stdout).toMatch(/^mongorestore version: 100\./);
  });
  it('need the password (authorization is enabled in mongod.cfg)', async () => {
    const r = await run('mongoexport', ['--host=localhost', '--port=64017', '--db=qlikalerting', '--collection=users']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Authentication failed/);
  });
});

describe('alerting check', () => {
  const check = async () => {
    const r = await qsadmin(['alerting', 'check', '--site', site.siteFile, '--json'], { env: env() });
    const json = JSON.parse(r.stdout) as { ok: boolean; findings: Array<{ check: string; status: string; message: string; users?: string[] }> };
    const by = (c: string) => json.findings.find((f) => f.check === c)!;
    return { ...r, json, by };
  };
  const defaultJson = () => path.join(root, 'Program Files', 'Qlik Alerting', 'config', 'default.json');

  it('passes on a healthy install, and says what it does not check', async () => {
    const r = await check();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.json.findings.filter((f) => f.status !== 'ok' && f.status !== 'skipped')).toEqual([]);
    expect(r.by('users.admin').message).toContain('EMULATED\\alertadmin');
    expect(r.by('users.sync').status).toBe('skipped');
    expect(r.by('licence.attributes').status).toBe('skipped');
    expect(r.stdout + r.stderr).not.toContain(MONGO_PASSWORD);
  }, 30_000);

  it('reports no administrator (fail), users without email and users with Professional and Analyzer (warnings)', async () => {
    const users = readCollection(dbPath(), 'qlikalerting', 'users');
    writeCollection(dbPath(), 'qlikalerting', 'users', [
      { _id: { $oid: '65f000000000000000000011' }, userDirectory: 'EMULATED', userId: 'bob', email: '', role: 'user', licenses: ['professional', 'analyzer'] },
      { _id: { $oid: '65f000000000000000000012' }, userDirectory: 'EMULATED', userId: 'carl', email: 'carl@emulated.test', role: 'user', licenses: ['analyzer'] },
    ]);
    try {
      const r = await check();
      expect(r.exitCode).toBe(4);
      expect(r.by('users.admin').status).toBe('fail');
      expect(r.by('users.email')).toMatchObject({ status: 'warn', users: ['EMULATED\\bob'] });
      expect(r.by('users.licences')).toMatchObject({ status: 'warn', users: ['EMULATED\\bob'] });
    } finally {
      writeCollection(dbPath(), 'qlikalerting', 'users', users);
    }
  }, 30_000);

  it('reports ports in default.json that the running Gateway does not answer on (changed without a restart)', async () => {
    const before = fs.readFileSync(defaultJson(), 'utf8');
    const cfg = JSON.parse(before);
    cfg.gateway.httpPort += 100;
    fs.writeFileSync(defaultJson(), JSON.stringify(cfg, null, 4));
    try {
      const r = await check();
      expect(r.exitCode).toBe(4);
      expect(r.by('gateway.service').status).toBe('ok');
      expect(r.by('gateway.http')).toMatchObject({ status: 'fail' });
      expect(r.by('gateway.http').message).toContain('restart');
      expect(r.by('gateway.https').status).toBe('ok');
    } finally {
      fs.writeFileSync(defaultJson(), before);
    }
  }, 30_000);

  it('reports a wrong MongoDB password in default.json without printing it', async () => {
    const before = fs.readFileSync(defaultJson(), 'utf8');
    fs.writeFileSync(defaultJson(), before.replace(encodeURIComponent(MONGO_PASSWORD), 'wrong-password'));
    try {
      const r = await check();
      expect(r.exitCode).toBe(4);
      expect(r.by('mongodb').status).toBe('fail');
      expect(r.by('mongodb').message).toMatch(/Authentication failed/);
      expect(r.stdout).not.toContain('wrong-password');
    } finally {
      fs.writeFileSync(defaultJson(), before);
    }
  }, 30_000);

  it('reports the Gateway stopped and MongoDB not answering', async () => {
    const h = host();
    await h.services.stop('QlikAlertingGateway' as never);
    await h.services.stop('MongoDB' as never);
    try {
      const r = await check();
      expect(r.exitCode).toBe(4);
      expect(r.by('mongodb').status).toBe('fail');
      expect(r.by('mongodb').message).toMatch(/connection refused/);
      expect(r.by('gateway.service').status).toBe('fail');
      expect(r.by('gateway.http').status).toBe('fail');
    } finally {
      await h.services.start('MongoDB' as never);
      await h.services.start('QlikAlertingGateway' as never);
    }
  }, 60_000);
});
