// The certs export/import runbooks through the CLI on emulated nodes that are installed but stopped (no processes):
// --no-start import, a failed step resumed with `qsadmin runs resume`, bad input that changes nothing, an export kept up to date.
// Needs the CLI built (npx tsc -p tsconfig.json; npx oclif manifest).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportMatchesStores } from '../src/certs/export.js';
import { generateLeaf, generateQlikCertSet, type QlikCertSet } from '../src/certs/generate.js';
import { installQlikCertSet } from '../src/certs/install.js';
import { writeHostCfg } from '../src/emulator/qrs/host-cfg.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import { openHost } from '../src/host/index.js';
import { defaultSitePaths, windowsToEmulated } from '../src/host/paths.js';
import type { SiteConfig } from '../src/site/model.js';
import { execa } from 'execa';
import { BIN, qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const HOST = 'qs-central.runbook.test';
const ACCOUNT = 'RB\\qliksvc';
const PASSWORD = 'runbook-pfx-password';
const ENV = { QSADMIN_CERT_PASSWORD: PASSWORD };
const CU_MY = { location: 'CurrentUser', name: 'My', user: ACCOUNT } as const;

let set: QlikCertSet;

// A one-node site folder (no database, services never started); the stores hold `certs` when given.
async function makeSite(certs: QlikCertSet | null): Promise<{ siteFile: string; site: SiteConfig; store: EmulatedCertStore; state: string }> {
  const dir = tempDir('qsadmin-certs-rb-');
  const root = path.join(dir, 'nodes', 'central');
  const site: SiteConfig = {
    name: 'rb', driver: 'emulated', serviceAccount: ACCOUNT, shareRoot: path.join(dir, 'share'),
    nodes: [{ name: 'central', hostname: HOST, role: 'central', address: '127.0.0.95', root }],
    database: { host: '127.0.0.95', port: 39532, service: null, superuser: 'postgres' },
  };
  fs.writeFileSync(path.join(dir, 'site.json'), JSON.stringify(site));
  writeHostCfg(root, HOST);
  const store = new EmulatedCertStore(root, ACCOUNT);
  if (certs) await installQlikCertSet(store, certs, ACCOUNT);
  return { siteFile: path.join(dir, 'site.json'), site, store, state: path.join(dir, 'state') };
}

// Run qsadmin with a state dir.
function cli(state: string, args: string[], env: Record<string, string> = ENV) {
  return qsadmin([...args, '--state-dir', state], { env });
}

// The certificates in a node's stores.
async function count(store: EmulatedCertStore): Promise<number> {
  let n = 0;
  for (const s of [{ location: 'LocalMachine', name: 'Root' }, { location: 'CurrentUser', name: 'Root' }, { location: 'LocalMachine', name: 'My' }, CU_MY] as const) n += (await store.list(s)).length;
  return n;
}

beforeAll(() => {
  set = generateQlikCertSet(HOST, { keyBits: 1024 });
});

afterAll(() => cleanupTempDirs());

describe('certs runbooks', () => {
  let exported: string;

  it('exports, and a second run skips the node only while the stores still hold the exported certificates', async () => {
    const src = await makeSite(set);
    exported = path.join(tempDir(), 'certs');
    const first = await cli(src.state, ['certs', 'export', '--site', src.siteFile, '--to', exported]);
    expect(first.exitCode).toBe(0);
    expect(first.stderr).toMatch(/ok\s+certs\.export\.central/);
    const again = await cli(src.state, ['certs', 'export', '--site', src.siteFile, '--to', exported]);
    expect(again.stderr).toMatch(/skip certs\.export\.central \(already done\)/);

    const host = await openHost(src.site, 'central');
    const client = (await src.store.list(CU_MY))[0];
    await src.store.remove(CU_MY, client.thumbprint);
    await src.store.put(CU_MY, generateLeaf(set.root, 'QlikClient', 'Client', { kind: 'client', keyBits: 1024 }));
    expect(await exportMatchesStores(host, ACCOUNT, path.join(exported, 'central'))).toBe(false);
    const renewed = await cli(src.state, ['certs', 'export', '--site', src.siteFile, '--to', exported]);
    expect(renewed.stderr).toMatch(/ok\s+certs\.export\.central/);
    expect(await exportMatchesStores(host, ACCOUNT, path.join(exported, 'central'))).toBe(true);
  });

  it('refuses a --to that cannot be a folder (a file, a path under a file, /proc) with exit 2 and one line, creating nothing', async () => {
    const src = await makeSite(set);
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    for (const [to, why] of [['/etc/hostname', 'is a file, not a folder'], [file, 'is a file, not a folder'], [path.join(file, 'sub'), 'is a file, not a folder'], ['/proc/qsadmin-nope', 'cannot hold folders']] as const) {
      const r = await cli(src.state, ['certs', 'export', '--site', src.siteFile, '--to', to]);
      expect(r.exitCode, `${to}: ${r.stderr}`).toBe(2);
      expect(r.stderr, to).toContain(`cannot create the folder ${to}: `);
      expect(r.stderr, to).toContain(why);
      expect(r.stderr, to).not.toMatch(/EEXIST|ENOTDIR|ENOENT/);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    expect(fs.existsSync('/proc/qsadmin-nope')).toBe(false);
    // An existing folder given as --to keeps its mode (only what the export creates is 0700).
    const shared = path.join(tempDir(), 'shared');
    fs.mkdirSync(shared, { mode: 0o755 });
    fs.chmodSync(shared, 0o755);
    const ok = await cli(src.state, ['certs', 'export', '--site', src.siteFile, '--to', shared]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(fs.statSync(shared).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(shared, 'central')).mode & 0o777).toBe(0o700);
    expect(ok.stdout).toContain(`Certificates exported to ${shared}`);
    expect(ok.stdout).toContain(`central: ${path.join(shared, 'central')}: root.pfx, root-currentuser.pfx, server.pfx`);
    // certs import of a file, or of something that is not there: exit 2 naming it.
    const notDir = await cli(src.state, ['certs', 'import', file, '--site', src.siteFile, '--no-start']);
    expect(notDir.exitCode).toBe(2);
    expect(notDir.stderr).toContain(`${file} is a file`);
    // A folder this account cannot read (as nobody: root reads everything).
    const locked = path.join(tempDir(), 'locked');
    fs.mkdirSync(locked, { mode: 0o700 });
    const asNobody = await execa('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'certs', 'import', locked, '--site', src.siteFile, '--no-start', '--state-dir', path.join(tempDir(), 'nobody-state')],
      { reject: false, env: { ...ENV, QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production' } });
    expect(asNobody.exitCode, asNobody.stderr).toBe(2);
    expect(asNobody.stderr).toContain(`${locked} is not readable by this account`);
  });

  it('imports with --no-start into a stopped node; a failed step is resumed with `runs resume` and validation runs again', async () => {
    const dst = await makeSite(null);
    // make the PEM step fail: a file where the ".Local Certificates" folder must go
    const local = windowsToEmulated(dst.site.nodes[0].root!, defaultSitePaths().exportedCertificates);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    fs.writeFileSync(local, 'in the way');
    const failed = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/FAIL certs\.import\.central\.pem/);
    const runId = /qsadmin runs resume (\S+)/.exec(failed.stderr)![1];
    expect(await count(dst.store)).toBe(5);
    expect(fs.readFileSync(path.join(dst.state, 'runs', runId, 'plan.json'), 'utf8')).not.toContain(PASSWORD);

    fs.rmSync(local);
    const resumed = await cli(dst.state, ['runs', 'resume', runId]);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/ok\s+certs\.import\.central\.validate/);
    expect(resumed.stderr).toMatch(/skip certs\.import\.central\.stores .*(done in an earlier attempt|already done)/);
    expect(resumed.stderr).toMatch(/ok\s+certs\.import\.central\.pem/);
    expect(fs.readdirSync(path.join(local, '.Local Certificates')).sort()).toEqual(['client.pem', 'client_key.pem', 'root.pem', 'server.pem', 'server_key.pem']);

    const check = await cli(dst.state, ['certs', 'check', '--site', dst.siteFile]);
    expect(check.exitCode).toBe(0);
  });

  it('refuses a wrong password naming the file (exit 2) and imports nothing', async () => {
    const dst = await makeSite(null);
    const r = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start'], { QSADMIN_CERT_PASSWORD: 'wrong-password-here' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`wrong password for ${path.join(exported, 'central', 'root.pfx')}`);
    expect(r.stderr).not.toContain('wrong-password-here');
    expect(await count(dst.store)).toBe(0);
  });

  it('refuses a node that holds Qlik certificates without --replace; with --replace --yes exports them to the run folder first', async () => {
    const other = generateQlikCertSet(HOST, { keyBits: 1024 });
    const dst = await makeSite(other);
    const refused = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('already holds 5 Qlik certificate(s)');
    const r = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start', '--replace', '--yes']);
    expect(r.exitCode).toBe(0);
    const safety = /exported to (\S+) \(same password\)/.exec(r.stdout)![1];
    expect(safety).toContain(path.join(dst.state, 'runs'));
    expect(fs.readdirSync(safety)).toContain('replaced.json');
    // stdout says what was imported where.
    expect(r.stdout).toContain(`Certificates imported on central from ${exported}:`);
    expect(r.stdout).toMatch(/QlikClient \([0-9A-F]{40}\) into CurrentUser\S*\\My from client\.pfx/);
    expect(r.stdout).toMatch(/PEM copies in .*\.Local Certificates: .*client\.pem/);
    expect(r.stdout).toContain('services left stopped (--no-start)');
    expect(await count(dst.store)).toBe(5);
  });

  it('refuses a set for another hostname unless --hostname-restore', async () => {
    const dst = await makeSite(null);
    writeHostCfg(dst.site.nodes[0].root!, 'qs-new.runbook.test');
    const refused = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`the set was made for ${HOST}`);
    expect(await count(dst.store)).toBe(0);
    const ok = await cli(dst.state, ['certs', 'import', exported, '--site', dst.siteFile, '--no-start', '--hostname-restore']);
    expect(ok.exitCode).toBe(0);
    const check = await cli(dst.state, ['certs', 'check', '--site', dst.siteFile]);
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toContain('WARNING [HOSTNAME_MISMATCH]');
  });
});
