// The backup set format against hostile and damaged input, and the set's life cycle, through the real CLI:
// manifests whose paths leave the set, hostile .tar entries, truncated and foreign archives, temp files of a killed
// manifest write, a completed set never written again, ids that work everywhere, show/delete, targets that cannot
// hold a set, and the temp folders of killed runs reaped by the next one.
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { ROOT, qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'setfmt-test-pfx-password';

let site: EmulatedSite;
let stateDir: string;
let target: string;
let extraDir: string;
let setA: string; // a folder set with supporting content
let tarB: string; // a --single-file set

function env(extra: Record<string, string> = {}) {
  return { QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, ...extra };
}

async function backup(args: string[] = [], extraEnv: Record<string, string> = {}) {
  const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json', '--no-logs', ...args], { env: env(extraEnv) });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

async function restore(source: string) {
  return qsadmin(['restore', source, '--site', site.siteFile, '--yes', '--json'], { env: env() });
}

async function allRunning(): Promise<boolean> {
  const list = await new EmulatedHost(site.site, site.site.nodes[0]).services.list();
  return list.every((x) => x.state === 'running');
}

function copySet(from: string): string {
  const to = path.join(tempDir(), path.basename(from));
  fs.cpSync(from, to, { recursive: true });
  return to;
}

function editManifest(dir: string, change: (m: { files: Array<Record<string, unknown>> }) => void): void {
  const f = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(f, 'utf8'));
  change(m);
  fs.chmodSync(f, 0o644);
  fs.writeFileSync(f, JSON.stringify(m));
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Nothing a failed verify or restore may leave: unpacked sets, partial sources. */
function leftovers(): string[] {
  const mine = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('qsadmin-verify-')).map((n) => path.join(os.tmpdir(), n));
  const sources = path.join(stateDir, 'restore-sources');
  const partial = fs.existsSync(sources) ? fs.readdirSync(sources).filter((n) => n.endsWith('.partial')) : [];
  return [...mine.filter((d) => !fs.existsSync(path.join(d, 'keep'))), ...partial];
}

/** A tar written by Python's tarfile (any entry type, no root needed): a set's first folder, then `add`. */
async function hostileTar(add: string): Promise<string> {
  const file = path.join(tempDir(), 'hostile.tar');
  const py = `
import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT)
d = tarfile.TarInfo('db'); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
def f(name, data=b'x'):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
${add}
f('manifest.json', b'{"format":1,"files":[]}')
t.close()
`;
  await execa('python3', ['-c', py, file]);
  return file;
}

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  extraDir = tempDir();
  fs.mkdirSync(path.join(extraDir, 'qvd'), { recursive: true });
  fs.writeFileSync(path.join(extraDir, 'qvd', 'sales.qvd'), 'supporting content\n');
  site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 42000, baseAddress: '127.0.0.120', startServices: true });
  const a = await backup(['--extra-path', extraDir]);
  expect(a.exitCode, a.stderr).toBe(0);
  setA = a.json.outputs.backup.dir;
  // Without --json: what a scheduled task's "> log" keeps is on stdout (where, size, downtime, reuse), progress on stderr.
  const b = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--no-logs', '--single-file'], { env: env() });
  expect(b.exitCode, b.stderr).toBe(0);
  tarB = /^backup \S+ written to (\S+\.tar)$/m.exec(b.stdout)?.[1] ?? '';
  expect(fs.existsSync(tarB), b.stdout).toBe(true);
  expect(b.stdout).toMatch(/files, [\d.]+ MB; full set/);
  expect(b.stdout).toMatch(/services were down [\d.]+ s/);
  expect(b.stdout).not.toMatch(/Dump QSR/);
}, 180_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('paths from a manifest stay inside the set and the destination (exit 4, nothing written)', () => {
  it('refuses a manifest entry that climbs out of the set, in verify and in restore', async () => {
    const copy = copySet(setA);
    // The file the hostile entry names exists, with the size and hash the manifest claims: only the path rule stops it.
    const outside = path.join(path.dirname(copy), 'X'); // <copy>/files/share/../../../X
    fs.writeFileSync(outside, 'planted\n');
    editManifest(copy, (m) => m.files.push({ path: 'files/share/../../../X', bytes: 8, sha256: sha('planted\n'), kind: 'share', source: '/tmp/X' }));
    const v = await qsadmin(['backup', 'verify', copy], { env: env() });
    expect(v.exitCode, v.stderr).toBe(4);
    expect(v.stderr).toContain('files/share/../../../X');
    const r = await restore(copy);
    expect(r.exitCode, r.stdout).toBe(4);
    expect(r.stdout).toContain('files/share/../../../X');
    expect(await allRunning()).toBe(true);
  });

  it('refuses supporting content whose recorded source is not its folder joined with its path', async () => {
    const copy = copySet(setA);
    const evil = path.join(tempDir(), 'evil', 'written-here');
    editManifest(copy, (m) => {
      const f = m.files.find((x) => x.kind === 'extra')!;
      f.source = evil;
    });
    const v = await qsadmin(['backup', 'verify', copy], { env: env() });
    expect(v.exitCode, v.stderr).toBe(4);
    expect(v.stderr).toMatch(/supporting content files\/extra\/.* is refused/);
    const r = await restore(copy);
    expect(r.exitCode, r.stdout).toBe(4);
    expect(fs.existsSync(evil)).toBe(false);
  });

  it('refuses a symbolic link inside a set folder (a reader would follow it out)', async () => {
    const copy = copySet(setA);
    const m = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
    const rel = m.files.find((f: { kind: string }) => f.kind === 'share').path as string;
    const p = path.join(copy, ...rel.split('/'));
    fs.rmSync(p);
    fs.symlinkSync('/etc/hostname', p);
    const v = await qsadmin(['backup', 'verify', copy], { env: env() });
    expect(v.exitCode).toBe(4);
    expect(v.stderr).toContain(`${rel}: a symbolic link in the set`);
  });
});

describe('packed sets: hostile entries, truncation, foreign files', () => {
  // restore unpacks through the same function as verify: checked for two of the cases (each restore costs a CLI start)
  const cases: Array<[string, string, RegExp, boolean]> = [
    ['a ../ entry', "f('db/../../escaped-by-tar')", /db\/\.\.\/\.\.\/escaped-by-tar.* is refused/, true],
    ['an absolute entry', "f('/tmp/qsadmin-setfmt-absolute')", /qsadmin-setfmt-absolute.* is refused/, false],
    ['a symbolic link', "l = tarfile.TarInfo('db/link'); l.type = tarfile.SYMTYPE; l.linkname = '/etc'; t.addfile(l)", /db\/link.* SymbolicLink entry/, false],
    ['a hard link', "l = tarfile.TarInfo('db/hard'); l.type = tarfile.LNKTYPE; l.linkname = '/etc/passwd'; t.addfile(l)", /db\/hard.* Link entry/, true],
    ['a device', "c = tarfile.TarInfo('db/dev'); c.type = tarfile.CHRTYPE; c.devmajor = 1; c.devminor = 3; t.addfile(c)", /db\/dev.* CharacterDevice entry/, false],
  ];
  for (const [what, add, msg, viaRestore] of cases) {
    it(`refuses ${what} (exit 4), writes nothing outside, leaves no temp folder`, async () => {
      const file = await hostileTar(add);
      const before = leftovers();
      const v = await qsadmin(['backup', 'verify', file], { env: env() });
      expect(v.exitCode, v.stderr).toBe(4);
      expect(v.stderr).toMatch(msg);
      if (viaRestore) {
        const r = await restore(file);
        expect(r.exitCode, r.stdout).toBe(4);
        expect(r.stdout).toMatch(msg);
      }
      expect(leftovers()).toEqual(before);
      expect(fs.existsSync('/tmp/qsadmin-setfmt-absolute')).toBe(false);
      expect(fs.existsSync(path.join(path.dirname(path.dirname(file)), 'escaped-by-tar'))).toBe(false);
    });
  }

  it('a truncated packed set is damaged (exit 4), with no temp folder or .partial left', async () => {
    const cut = path.join(tempDir(), 'cut.tar');
    fs.writeFileSync(cut, fs.readFileSync(tarB).subarray(0, Math.floor(fs.statSync(tarB).size / 2)));
    const before = leftovers();
    const v = await qsadmin(['backup', 'verify', cut], { env: env() });
    expect(v.exitCode, v.stderr).toBe(4);
    expect(v.stderr).toMatch(/damaged backup set/);
    const r = await restore(cut);
    expect(r.exitCode, r.stdout).toBe(4);
    expect(leftovers()).toEqual(before);
  });

  it('a file that is not a set (random bytes, or a tar of other files) is exit 2, with nothing left', async () => {
    const random = path.join(tempDir(), 'random.tar');
    fs.writeFileSync(random, Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 2654435761) >>> 24)));
    const other = path.join(tempDir(), 'other.tar');
    await execa('tar', ['-cf', other, '-C', ROOT, 'package.json']);
    const before = leftovers();
    for (const f of [random, other]) {
      const v = await qsadmin(['backup', 'verify', f], { env: env() });
      expect(v.exitCode, v.stderr).toBe(2);
      expect(v.stderr).toMatch(/is not a qsadmin backup set/);
      const r = await restore(f);
      expect(r.exitCode, r.stdout).toBe(2);
    }
    expect(leftovers()).toEqual(before);
  });

  it('the packed set itself verifies, and unpacks for a restore check without refusals', async () => {
    const v = await qsadmin(['backup', 'verify', tarB], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
  });
});

describe('a killed manifest write, and a completed set that is never written again', () => {
  it('resume removes the temp files of the killed attempt; its quick check is backup verify', async () => {
    const r = await backup([], { QSADMIN_FAULT: 'kill-at:backup.manifest:temp-written' });
    expect(r.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'backup-create');
    const set = fs.readdirSync(target).map((n) => path.join(target, n)).find((d) => fs.statSync(d).isDirectory() && fs.readdirSync(d).some((n) => /^manifest\.json\.\d+\.tmp$/.test(n)));
    expect(set, 'the kill left manifest.json.<pid>.tmp').toBeDefined();
    // as a kill during the certificate export leaves one
    fs.writeFileSync(path.join(set!, 'certs', 'central', 'client.pfx.12345.abcdef01.tmp'), 'half a pfx');
    const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(fs.readdirSync(set!).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const v = await qsadmin(['backup', 'verify', set!], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);

    // Resuming the finished run again writes nothing into the set and stops no service.
    const files = (d: string): string[] => fs.readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    const before = new Map(files(set!).filter((f) => !f.endsWith('verified.json')).map((f) => [f, fs.statSync(f).mtimeMs]));
    const again = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(again.exitCode, again.stderr).toBe(0);
    const after = new Map(files(set!).filter((f) => !f.endsWith('verified.json')).map((f) => [f, fs.statSync(f).mtimeMs]));
    expect(after).toEqual(before);
    const steps = JSON.parse(again.stdout).steps as Array<{ id: string; status: string }>;
    for (const s of steps.filter((x) => x.id.startsWith('backup.stop.') || x.id.startsWith('backup.db.dump.'))) expect(s.status, s.id).not.toBe('succeeded');
    expect(await allRunning()).toBe(true);
  });
});

describe('ids, list, show, delete', () => {
  it('list of a folder that does not exist is exit 2 naming it', async () => {
    const r = await qsadmin(['backup', 'list', '--to', '/nonexistent/qsadmin-backups'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('/nonexistent/qsadmin-backups');
  });

  it('ids from list work for verify, show and restore; list shows each path', async () => {
    const l = await qsadmin(['backup', 'list', '--to', target], { env: env() });
    expect(l.exitCode, l.stderr).toBe(0);
    expect(l.stdout).toContain(setA);
    const id = path.basename(setA);
    const v = await qsadmin(['backup', 'verify', id, '--to', target], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    const s = await qsadmin(['backup', 'show', id, '--to', target, '--json'], { env: env() });
    expect(s.exitCode, s.stderr).toBe(0);
    const j = JSON.parse(s.stdout);
    expect(j.databases.map((d: { name: string }) => d.name)).toEqual(expect.arrayContaining(['QSR', 'SenseServices', 'QSMQ', 'Licenses']));
    expect(j.share[0].files).toBeGreaterThan(0);
    expect(j.kinds.extra.files).toBe(1);
    const st = await qsadmin(['backup', 'show', path.basename(tarB, '.tar'), '--to', target], { env: env() });
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.stdout).toContain('databases:');
    // restore resolves the id in QSADMIN_BACKUP_DIR (a dry run: the plan names the set)
    const r = await qsadmin(['restore', id, '--site', site.siteFile, '--dry-run', '--yes'], { env: env({ QSADMIN_BACKUP_DIR: target }) });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(setA);
    const bad = await qsadmin(['backup', 'verify', '20200101T000000000Z', '--to', target], { env: env() });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(target);
  });

  it('delete needs --yes, keeps the newest verified set unless --force, and never breaks the others', async () => {
    // the newest set (the resumed one above) is an incremental: it links unchanged files from setA
    const l = JSON.parse((await qsadmin(['backup', 'list', '--to', target, '--json'], { env: env() })).stdout);
    const newestSet = l.backups.find((b: { complete: boolean; single: boolean }) => b.complete && !b.single);
    const newest = newestSet.dir as string;
    expect(newestSet.base).toBe(path.basename(setA));
    const noYes = await qsadmin(['backup', 'delete', path.basename(setA), '--to', target], { env: env() });
    expect(noYes.exitCode).toBe(2);
    expect(noYes.stderr).toContain('--yes');
    const keep = await qsadmin(['backup', 'delete', path.basename(newest), '--to', target, '--yes'], { env: env() });
    expect(keep.exitCode).toBe(2);
    expect(keep.stderr).toMatch(/newest verified/);
    for (const d of fs.readdirSync(target).filter((n) => fs.statSync(path.join(target, n)).isDirectory()).map((n) => path.join(target, n))) {
      if (d === newest) continue;
      const del = await qsadmin(['backup', 'delete', path.basename(d), '--to', target, '--yes'], { env: env() });
      expect(del.exitCode, del.stderr).toBe(0);
      expect(fs.existsSync(d)).toBe(false);
    }
    const v = await qsadmin(['backup', 'verify', newest], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    const v2 = await qsadmin(['backup', 'verify', tarB], { env: env() });
    expect(v2.exitCode, v2.stderr).toBe(0);
  });
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('targets and temp folders', () => {
  it('a target under /proc is refused at once with exit 2, not a spin', async () => {
    const t0 = Date.now();
    const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', '/proc/nope'], { env: env(), timeout: 30_000 });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/proc filesystem/);
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(await allRunning()).toBe(true);
  });

  it('the next run reaps the scratch cluster and verify folder of a killed run (only those whose pid is gone)', async () => {
    // A real scratch cluster, started by a process that is then killed with SIGKILL: its server keeps running.
    const child = spawn(process.execPath, ['-e', `import(${JSON.stringify(path.join(ROOT, 'dist/src/postgres/cluster.js'))}).then(async ({ PgCluster }) => { const c = await PgCluster.scratch({}); console.log(c.scratchRoot); setInterval(() => {}, 1000); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const root = await new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const pm = Number(fs.readFileSync(path.join(root, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(() => process.kill(pm, 0)).not.toThrow();
    const dead = fs.mkdtempSync(path.join(os.tmpdir(), `qsadmin-verify-${child.pid}-`));
    const live = fs.mkdtempSync(path.join(os.tmpdir(), `qsadmin-verify-${process.pid}-`));
    fs.writeFileSync(path.join(live, 'keep'), '');
    const plainDump = path.join(os.tmpdir(), `qsadmin-${child.pid}-deadbeef-QSR.dump`); // a killed load's plain copy
    fs.writeFileSync(plainDump, 'PGDMP');
    const v = await qsadmin(['backup', 'verify', tarB], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(fs.existsSync(root)).toBe(false);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(plainDump)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    // The server is stopped and has removed its pid file; as an orphan it is gone once init has reaped it (a moment).
    for (let i = 0; i < 100 && processExists(pm); i++) await new Promise((r) => setTimeout(r, 100));
    expect(processExists(pm)).toBe(false);
    fs.rmSync(live, { recursive: true, force: true });
  }, 60_000);
});
