// The copy that fills a set and a restore's staging (src/backup/hashcopy.ts, hash-pool.ts), on real files: the bytes
// and the sha256 are the source's at every size around the direct-write alignment, a leftover hard link is never
// written through, and a source that changes while it is copied is copied again as it is.
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { copyFileHashed, copyHashed } from '../src/backup/hashcopy.js';
import { copyOnWorker, DIRECT_WRITES } from '../src/backup/hash-pool.js';
import { joinRel, unsafePathReason } from '../src/backup/safe-path.js';
import { copyTree, indexBase } from '../src/backup/tree.js';
import type { ManifestFile } from '../src/backup/manifest.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(() => cleanupTempDirs());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1 << 20;

/** Whether a folder's file system takes O_DIRECT opens (where it does, a large file must be written direct). */
function takesDirect(dir: string): boolean {
  if (!DIRECT_WRITES) return false;
  const p = path.join(dir, `probe-${randomBytes(4).toString('hex')}`);
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DIRECT, 0o600));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(p, { force: true });
  }
}

describe('copying a file into a set', () => {
  it('writes a large file around the page cache where the file system allows it, also after a permissive one', async () => {
    // first in this file: the workers have not learnt a buffer offset yet
    const dir = tempDir();
    const data = randomBytes(5 * MiB + 777);
    fs.writeFileSync(path.join(dir, 'src'), data);
    // tmpfs takes any buffer alignment: a worker's buffer offset learnt there must not make the next copy buffered
    if (fs.existsSync('/dev/shm') && takesDirect('/dev/shm')) {
      const shm = fs.mkdtempSync('/dev/shm/qsadmin-test-');
      try {
        for (let i = 0; i < 4; i++) await copyOnWorker(path.join(dir, 'src'), { tmp: path.join(shm, `c${i}`), mode: 0o600 });
      } finally {
        fs.rmSync(shm, { recursive: true, force: true });
      }
    }
    for (let i = 0; i < 4; i++) {
      const r = await copyOnWorker(path.join(dir, 'src'), { tmp: path.join(dir, `c${i}.partial`), mode: 0o400, rename: path.join(dir, `c${i}`) });
      expect(r).toMatchObject({ bytes: data.length, sha256: sha(data), direct: takesDirect(dir) });
      expect(fs.readFileSync(path.join(dir, `c${i}`)).equals(data)).toBe(true);
      expect(fs.existsSync(path.join(dir, `c${i}.partial`))).toBe(false);
    }
  });

  it('keeps every byte and the sha256 at sizes around the 4 KiB blocks and the 4 MiB chunks, read-only, no temp left', async () => {
    const src = tempDir();
    const set = tempDir();
    const sizes = [0, 1, 4095, 4096, MiB - 1, MiB, MiB + 4097, 4 * MiB, 9 * MiB + 3];
    for (const n of sizes) {
      const data = randomBytes(n);
      fs.writeFileSync(path.join(src, `f${n}`), data);
      const dest = path.join(set, 'files', 'share', `f${n}`);
      const w = await copyFileHashed(path.join(src, `f${n}`), dest);
      expect(w, `size ${n}`).toEqual({ bytes: n, sha256: sha(data) });
      expect(fs.readFileSync(dest).equals(data), `size ${n}`).toBe(true);
      expect(fs.statSync(dest).mode & 0o777).toBe(0o400);
    }
    expect(fs.readdirSync(path.join(set, 'files', 'share')).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('replaces a leftover temp file of a killed run that is a hard link, never writing through it', async () => {
    const dir = tempDir();
    for (const n of [100, 3 * MiB]) {
      const base = path.join(dir, `base${n}`);
      const before = randomBytes(n);
      fs.writeFileSync(base, before, { mode: 0o400 });
      const data = randomBytes(n);
      fs.writeFileSync(path.join(dir, `new${n}`), data);
      const dest = path.join(dir, 'set', `f${n}`);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.linkSync(base, `${dest}.partial`);
      await copyFileHashed(path.join(dir, `new${n}`), dest);
      expect(fs.readFileSync(base).equals(before), `size ${n}: the linked file is unchanged`).toBe(true);
      expect(fs.readFileSync(dest).equals(data)).toBe(true);
    }
  });

  it('copies a file again, in one pass, when its time moves while copied; a file that grew shows its new size', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'app.qvf');
    const data = randomBytes(64 * MiB);
    fs.writeFileSync(file, data);
    const again = vi.spyOn(fs, 'createReadStream');
    let t = Date.now();
    // saved in place, as Qlik saves an app: the same bytes, a new time, every millisecond of the copy
    const toucher = setInterval(() => fs.utimesSync(file, new Date(), new Date((t += 1000))), 1);
    try {
      const w = await copyFileHashed(file, path.join(dir, 'set', 'app.qvf'));
      clearInterval(toucher);
      expect(w).toEqual({ bytes: data.length, sha256: sha(data) });
      expect(again.mock.calls.map((c) => c[0])).toContain(file);
    } finally {
      clearInterval(toucher);
      again.mockRestore();
    }
    let done = false;
    const appender = setInterval(() => !done && fs.appendFileSync(file, 'x'), 1);
    try {
      const dest = path.join(dir, 'set', 'growing.qvf');
      const w = await copyFileHashed(file, dest);
      done = true;
      const copied = fs.readFileSync(dest);
      expect(w.bytes).toBeGreaterThan(data.length);
      expect(copied.length).toBe(w.bytes);
      expect(sha(copied)).toBe(w.sha256);
      expect(copied.equals(fs.readFileSync(file).subarray(0, copied.length))).toBe(true);
      expect(fs.readdirSync(path.dirname(dest)).sort()).toEqual(['app.qvf', 'growing.qvf']);
    } finally {
      clearInterval(appender);
    }
  });

  it('stages a restore copy writable for Qlik, renamed only by the caller', async () => {
    const dir = tempDir();
    const data = randomBytes(2 * MiB + 5);
    fs.writeFileSync(path.join(dir, 'in-set'), data, { mode: 0o400 });
    const w = await copyHashed(path.join(dir, 'in-set'), { tmp: path.join(dir, 'staged.partial'), mode: 0o644 });
    expect(w).toMatchObject({ bytes: data.length, sha256: sha(data) });
    expect(fs.statSync(path.join(dir, 'staged.partial')).mode & 0o777).toBe(0o644);
    expect(fs.existsSync(path.join(dir, 'staged'))).toBe(false);
  });
});

describe('joinRel (the set paths of the hot loops, without path.join)', () => {
  // Every relative path that unsafePathReason lets through, against folders in each form a caller passes.
  const rels = ['a', 'Apps/1.qvf', 'Static Content/x y/ünï.png', 'a.b/c..d/...e'];
  it('gives what path.join gives, on POSIX and on Windows', () => {
    for (const rel of rels) {
      for (const dir of ['/var/b/set', '/var/b/set/', '/', 'rel/dir']) expect(joinRel(dir, rel, '/')).toBe(path.posix.join(dir, ...rel.split('/')));
      for (const dir of ['C:\\Backups\\set', 'C:\\Backups\\set\\', 'C:\\', 'C:/Backups/set', '\\\\srv\\share\\qlik']) {
        expect(joinRel(dir, rel, '\\')).toBe(path.win32.join(dir, ...rel.split('/')));
      }
    }
    expect(joinRel('', 'a/b', '/')).toBe('a/b');
    for (const rel of rels) expect(unsafePathReason(rel)).toBeNull();
  });
  it('is only given paths that unsafePathReason lets through: it refuses every other segment', () => {
    const refused: Record<string, string> = {
      'a//b': 'an empty path segment', 'a/': 'an empty path segment', '/a': 'an absolute path', 'a/../b': 'a ".." segment',
      '..': 'a ".." segment', 'a/.': 'a "." segment', 'a/ . /b': 'a " . " segment', 'x/...': 'a "..." segment', 'a/b/ ': 'a " " segment',
      'a\\b': 'a backslash (a Windows path separator)', 'C:x': 'a ":" (a drive letter or an NTFS stream)', '': 'an empty path',
    };
    for (const [rel, why] of Object.entries(refused)) expect(unsafePathReason(rel), rel).toBe(why);
    for (const rel of ['a/.x', 'a/x.', 'a/ x', 'a/..b', '.hidden/f']) expect(unsafePathReason(rel), rel).toBeNull();
  });
});

describe('copyTree: links from the base set on the workers, copies where a link cannot be made', () => {
  // A base set and a live tree: two files unchanged (linked), one changed (copied); a leftover at a linked name.
  function makeTrees(baseRoot: string) {
    const live = path.join(tempDir(), 'live');
    const base = fs.mkdtempSync(path.join(baseRoot, 'qsadmin-base-'));
    const files = { 'Apps/a.qvf': randomBytes(5000), 'Apps/b.qvf': randomBytes(7000), 'Static/c.png': randomBytes(300) };
    const prev: ManifestFile[] = [];
    for (const [rel, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(live, rel)), { recursive: true });
      fs.writeFileSync(path.join(live, rel), data);
      fs.mkdirSync(path.dirname(path.join(base, 'files/share', rel)), { recursive: true });
      fs.writeFileSync(path.join(base, 'files/share', rel), data);
      const st = fs.statSync(path.join(live, rel));
      prev.push({ path: `files/share/${rel}`, bytes: data.length, sha256: sha(data), kind: 'share', mtimeMs: Math.floor(st.mtimeMs) });
    }
    const changed = randomBytes(6000);
    fs.writeFileSync(path.join(live, 'Apps/b.qvf'), changed);
    fs.utimesSync(path.join(live, 'Apps/b.qvf'), new Date(), new Date(Date.now() + 5000));
    return { live, base, files, changed, prev };
  }
  const src = (dir: string) => ({ dir, source: dir, stored: 'files/share', kind: 'share' as const });

  it('links the unchanged files (replacing a leftover), copies the changed one', async () => {
    const t = makeTrees(tempDir());
    const set = path.join(tempDir(), 'set');
    fs.mkdirSync(path.join(set, 'files/share/Apps'), { recursive: true });
    fs.writeFileSync(path.join(set, 'files/share/Apps/a.qvf'), 'left by a killed run');
    const r = await copyTree(src(t.live), set, { base: indexBase(t.base, t.prev), parallel: 2 });
    expect(r.stats).toMatchObject({ files: 3, reusedFiles: 2 });
    expect(r.files.map((f) => [f.path, !!f.reused, f.sha256])).toEqual([
      ['files/share/Apps/a.qvf', true, sha(t.files['Apps/a.qvf'])],
      ['files/share/Apps/b.qvf', false, sha(t.changed)],
      ['files/share/Static/c.png', true, sha(t.files['Static/c.png'])],
    ]);
    expect(fs.statSync(path.join(set, 'files/share/Apps/a.qvf')).ino).toBe(fs.statSync(path.join(t.base, 'files/share/Apps/a.qvf')).ino);
    expect(fs.readFileSync(path.join(set, 'files/share/Apps/b.qvf')).equals(t.changed)).toBe(true);
  });

  it.skipIf(!fs.existsSync('/dev/shm') || fs.statSync('/dev/shm').dev === fs.statSync(tempDir()).dev)('copies every file when the base set is on another volume (EXDEV)', async () => {
    const t = makeTrees('/dev/shm');
    try {
      const set = path.join(tempDir(), 'set');
      const r = await copyTree(src(t.live), set, { base: indexBase(t.base, t.prev), parallel: 2 });
      expect(r.stats).toMatchObject({ files: 3, reusedFiles: 0 });
      expect(r.files.every((f) => !f.reused)).toBe(true);
      for (const f of r.files) expect(sha(fs.readFileSync(path.join(set, f.path)))).toBe(f.sha256);
      expect(r.files[0].sha256).toBe(sha(t.files['Apps/a.qvf']));
    } finally {
      fs.rmSync(t.base, { recursive: true, force: true });
    }
  });
});
