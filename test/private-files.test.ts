// What qsadmin writes outside the site that holds a key, a dump or a password is private (issue 13, item 3):
// sets (folder and --single-file), run folders and certificate exports, with umask 000, checked at creation (strace of
// every open and mkdir of the process tree), afterwards (modes), and as another user (runuser -u nobody).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQlikCertSet } from '../src/certs/generate.js';
import { installQlikCertSet } from '../src/certs/install.js';
import { writeHostCfg } from '../src/emulator/qrs/host-cfg.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import { checkFolderTarget, mkdirPrivate, openPrivate, writePrivate } from '../src/host/private-files.js';
import { MKDIR_PRIVATE, WRITE_PRIVATE } from '../src/host/windows/ps/private.js';
import { InputError } from '../src/runbook/errors.js';
import type { SiteConfig } from '../src/site/model.js';
import { powershellErrors } from './helpers/powershell.js';
import { createdUnder, filesUnder, nobodyCanRead, notPrivate, qsadminTraced } from './helpers/private-modes.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'private-files-pfx-password';

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

// Creations that are not private: files opened O_CREAT with group/other bits, folders made with them.
function loose(trace: string, root: string, allow: (p: string) => boolean = () => false): string[] {
  return createdUnder(trace, root)
    .filter((c) => (c.mode & 0o077) !== 0 && !allow(c.path))
    .map((c) => `${c.syscall} ${c.path} ${c.mode.toString(8)}`);
}

describe('the private-file writer', () => {
  it('creates 0700 folders and 0600 files even with umask 000, and leaves an existing folder as it is', async () => {
    const root = tempDir();
    const old = process.umask(0);
    try {
      await mkdirPrivate(path.join(root, 'a', 'b'));
      await writePrivate(path.join(root, 'a', 'b', 'key.pem'), 'secret');
      await writePrivate(path.join(root, 'c', 'dump'), 'secret'); // its folder is made too
      fs.writeFileSync(path.join(root, 'a', 'b', 'left.partial'), 'old', { mode: 0o644 });
      const h = await openPrivate(path.join(root, 'a', 'b', 'left.partial'));
      await h.close();
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(root).mode & 0o777).toBe(0o755); // existing: untouched
    for (const d of ['a', 'a/b', 'c']) expect(fs.statSync(path.join(root, d)).mode & 0o777, d).toBe(0o700);
    for (const f of ['a/b/key.pem', 'c/dump', 'a/b/left.partial']) expect(fs.statSync(path.join(root, f)).mode & 0o777, f).toBe(0o600);
    expect(fs.readdirSync(path.join(root, 'a', 'b')).sort()).toEqual(['key.pem', 'left.partial']); // no temp files left
  });

  it('refuses a file, a path under a file and a place that cannot hold folders as bad input naming the path', async () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'file'), 'x');
    for (const [p, why] of [[path.join(root, 'file'), 'is a file'], [path.join(root, 'file', 'sub'), 'is a file'], ['/proc/qsadmin-nope', 'cannot hold folders']] as const) {
      const e = await mkdirPrivate(p).catch((x: unknown) => x);
      expect(e, p).toBeInstanceOf(InputError);
      expect((e as Error).message).toContain(p);
      expect((e as Error).message).toContain(why);
    }
    expect(() => checkFolderTarget(path.join(root, 'file'))).toThrow(/is a file, not a folder/);
    expect(() => checkFolderTarget(path.join(root, 'new', 'deeper'))).not.toThrow();
    expect(fs.existsSync(path.join(root, 'new'))).toBe(false); // the check creates nothing
  });

  it('writes the Windows ACL scripts as PowerShell that parses (values reach them as parameters)', async () => {
    for (const s of [MKDIR_PRIVATE, WRITE_PRIVATE]) {
      expect(await powershellErrors(s.text), s.name).toEqual([]);
      expect(s.text).toContain('SetAccessRuleProtection($true, $false)');
      expect(s.text).toContain("'S-1-5-18'");
    }
  });
});

describe('certs export, as files of its own', () => {
  it('writes a private export and run folder with umask 000: at creation, afterwards, and against another user', async () => {
    const dir = tempDir('qsadmin-private-certs-');
    const root = path.join(dir, 'nodes', 'central');
    const host = 'qs-central.private.test';
    const site: SiteConfig = {
      name: 'private', driver: 'emulated', serviceAccount: 'PRIV\\qliksvc', shareRoot: path.join(dir, 'share'),
      nodes: [{ name: 'central', hostname: host, role: 'central', address: '127.0.0.201', root }],
      database: { host: '127.0.0.201', port: 39599, service: null, superuser: 'postgres' },
    };
    fs.writeFileSync(path.join(dir, 'site.json'), JSON.stringify(site));
    writeHostCfg(root, host);
    await installQlikCertSet(new EmulatedCertStore(root, site.serviceAccount), generateQlikCertSet(host, { keyBits: 1024 }), site.serviceAccount);
    // Existing folders open to others (0755), as a shared backup folder is: only qsadmin's own modes keep them out.
    const out = path.join(dir, 'out');
    const state = path.join(dir, 'state');
    for (const d of [out, state]) fs.mkdirSync(d, { mode: 0o755 });
    const trace = path.join(dir, 'trace');
    const r = await qsadminTraced(['certs', 'export', '--site', path.join(dir, 'site.json'), '--to', path.join(out, 'certs'), '--state-dir', state], trace, { QSADMIN_CERT_PASSWORD: CERT_PASSWORD });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Certificates exported to ${path.join(out, 'certs')}`);
    expect(r.stdout).toMatch(/central: \S+central: .*server\.pfx/);
    expect(createdUnder(trace, out).length).toBeGreaterThanOrEqual(8);
    expect(loose(trace, out)).toEqual([]);
    expect(loose(trace, state)).toEqual([]);
    expect(notPrivate(out)).toEqual([]);
    expect(notPrivate(state)).toEqual([]);
    const server = path.join(out, 'certs', 'central', 'server.pfx');
    expect(await nobodyCanRead(server)).toBe(false);
    // The same user can read a file that is not private beside it: the check above can fail.
    fs.writeFileSync(path.join(dir, 'public'), 'x', { mode: 0o644 });
    expect(await nobodyCanRead(path.join(dir, 'public'))).toBe(true);
  });
});

describe('backup sets, as files of their own', () => {
  let site: Awaited<ReturnType<typeof makeSite>>;
  beforeAll(async () => {
    site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 56000, baseAddress: '127.0.0.200', startServices: true });
  }, 180_000);

  // A --single-file run writes the folder set first (dumps, globals, certificates, share, manifest), then packs it:
  // its trace covers both forms.
  it('writes a folder set, the --single-file set made from it and the run folders private with umask 000', async () => {
    const dir = tempDir('qsadmin-private-sets-');
    const to = path.join(dir, 'backups');
    const state = path.join(dir, 'state');
    for (const d of [to, state]) fs.mkdirSync(d, { mode: 0o755 });
    const trace = path.join(dir, 'trace');
    const r = await qsadminTraced(['backup', 'create', '--site', site.siteFile, '--to', to, '--json', '--single-file', '--table-archive-min-size', '1'], trace,
      { QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_STATE_DIR: state });
    expect(r.exitCode, r.stderr).toBe(0);
    const tarFile = JSON.parse(r.stdout).outputs['backup.file'] as string;

    // A share or log file copied by the kernel (fs.copyFile) gets its source's mode at open; its temporary name is
    // inside the set's 0700 folder and it is made 0400 before it takes its name. Everything else is private at open.
    const copied = (p: string) => p.endsWith('.partial') && p.includes(`${path.sep}files${path.sep}`);
    const made = createdUnder(trace, to).map((c) => c.path);
    for (const kind of [/\.dump\.zst\.partial$/, /\.tables\//, /globals\.sql$/, /\.pfx(\.\d+\.[0-9a-f]+\.tmp)?$/, /manifest\.json/, /\.tar\.partial$/, /\.verified\.json/]) {
      expect(made.some((p) => kind.test(p)), String(kind)).toBe(true);
    }
    expect(loose(trace, to, copied)).toEqual([]);
    expect(loose(trace, state)).toEqual([]);
    expect(notPrivate(to)).toEqual([]);
    expect(notPrivate(state)).toEqual([]);

    const samples = [tarFile, ...filesUnder(path.join(state, 'runs')).filter((f) => /journal\.jsonl$|run\.log$|outputs\.json$/.test(f))];
    expect(samples.length).toBeGreaterThanOrEqual(4);
    // The folders given are 0755: nobody reaches them, but not what qsadmin made inside.
    for (const f of samples) expect(await nobodyCanRead(f), f).toBe(false);
  }, 300_000);
});
