// The share staging of a restore on real files: which live files are linked rather than copied (quick check, or
// checksum), what the swap does with a linked file that was written after it was checked, and the end state against the set's bytes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { refreshMovedLinks, stageRoot, swapRoot, type SwapRoot } from '../src/restore/stage.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(() => cleanupTempDirs());

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const HOUR_AGO = Date.now() - 3_600_000;

/** A set folder and a live folder, and the swap root that restores the first onto the second. */
function fixture(files: Record<string, { set: string; live?: string; liveMtimeMs?: number }>): { root: SwapRoot; live: string; links: string } {
  const dir = tempDir();
  const set = path.join(dir, 'set');
  const live = path.join(dir, 'live');
  const out: SwapRoot = { dest: live, local: live, roles: ['RootFolder'], files: [] };
  for (const [rel, f] of Object.entries(files)) {
    const from = path.join(set, ...rel.split('/'));
    fs.mkdirSync(path.dirname(from), { recursive: true });
    fs.writeFileSync(from, f.set);
    const mtimeMs = Math.floor(HOUR_AGO);
    fs.utimesSync(from, new Date(mtimeMs), new Date(mtimeMs));
    out.files.push({ rel, from, stored: `files/share/${rel}`, bytes: Buffer.byteLength(f.set), sha256: sha(f.set), mtimeMs });
    if (f.live === undefined) continue;
    const to = path.join(live, ...rel.split('/'));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, f.live);
    const t = f.liveMtimeMs ?? mtimeMs;
    fs.utimesSync(to, new Date(t), new Date(t));
  }
  fs.mkdirSync(live, { recursive: true });
  return { root: out, live, links: path.join(dir, 'links.json') };
}

const read = (live: string, rel: string) => fs.readFileSync(path.join(live, ...rel.split('/')), 'utf8');

describe('restore share staging', () => {
  it('links live files that hold the backup\'s bytes, copies the others, and the swap leaves the set\'s bytes everywhere', async () => {
    const { root, live, links } = fixture({
      'Apps/same.qvf': { set: 'app one, as backed up', live: 'app one, as backed up' },
      'Apps/changed.qvf': { set: 'app two, as backed up', live: 'app two, CHANGED since' },
      'Apps/touched.qvf': { set: 'app three', live: 'app three', liveMtimeMs: HOUR_AGO + 5000 },
      'Apps/just-written.qvf': { set: 'app four', live: 'app four', liveMtimeMs: Date.now() },
      'StaticContent/missing.png': { set: 'only in the set' },
    });
    fs.writeFileSync(path.join(live, 'Apps', 'extra.qvf'), 'made after the backup');
    const staged = await stageRoot(root, 'r1', 2, links);
    // only the unchanged, untouched, not recently written file is linked; the rest come from the set
    expect(staged.linked).toBe(1);
    expect(JSON.parse(fs.readFileSync(links, 'utf8')).map((l: { rel: string }) => l.rel)).toEqual(['Apps/same.qvf']);
    expect(staged.bytes).toBe(root.files.filter((f) => f.rel !== 'Apps/same.qvf').reduce((n, f) => n + f.bytes, 0));
    const stagedSame = fs.statSync(path.join(live, '.qsadmin-restore-r1', 'Apps', 'same.qvf'));
    expect(stagedSame.ino).toBe(fs.statSync(path.join(live, 'Apps', 'same.qvf')).ino);

    expect(await refreshMovedLinks(root, 'r1', links)).toEqual([]);
    const swapped = swapRoot(root, 'r1');
    expect(swapped.extra).toEqual(['Apps/extra.qvf']);
    for (const f of root.files) expect(sha(fs.readFileSync(path.join(live, ...f.rel.split('/'))))).toBe(f.sha256);
    expect(read(live, 'Apps/extra.qvf')).toBe('made after the backup');
    // the replaced entries are the safety copy of what was live
    expect(read(path.join(live, '.qsadmin-old-r1'), 'Apps/changed.qvf')).toBe('app two, CHANGED since');
  });

  it('a linked file written after it was hashed is copied from the set again before the swap; one renamed away needs nothing', async () => {
    const { root, live, links } = fixture({
      'Apps/a.qvf': { set: 'aaaa backed up', live: 'aaaa backed up' },
      'Apps/b.qvf': { set: 'bbbb backed up', live: 'bbbb backed up' },
      'Apps/c.qvf': { set: 'cccc backed up', live: 'cccc backed up' },
    });
    const staged = await stageRoot(root, 'r2', 2, links);
    expect(staged.linked).toBe(3);
    expect(staged.bytes).toBe(0);
    // while the services still run: a.qvf saved in place (same size), b.qvf replaced by a new file under its name
    fs.writeFileSync(path.join(live, 'Apps', 'a.qvf'), 'AAAA saved new');
    fs.writeFileSync(path.join(live, 'Apps', 'b.qvf.tmp'), 'BBBB saved new');
    fs.renameSync(path.join(live, 'Apps', 'b.qvf.tmp'), path.join(live, 'Apps', 'b.qvf'));

    expect(await refreshMovedLinks(root, 'r2', links)).toEqual(['Apps/a.qvf']);
    // the staged a.qvf is now a copy of its own, no longer the live inode
    expect(fs.statSync(path.join(live, '.qsadmin-restore-r2', 'Apps', 'a.qvf')).nlink).toBe(1);
    swapRoot(root, 'r2');
    expect(read(live, 'Apps/a.qvf')).toBe('aaaa backed up');
    expect(read(live, 'Apps/b.qvf')).toBe('bbbb backed up');
    expect(read(live, 'Apps/c.qvf')).toBe('cccc backed up');
    expect(read(path.join(live, '.qsadmin-old-r2'), 'Apps/a.qvf')).toBe('AAAA saved new');
    expect(read(path.join(live, '.qsadmin-old-r2'), 'Apps/b.qvf')).toBe('BBBB saved new');
  });

  it('a second staging attempt (resume) hashes its links again and keeps its checked copies', async () => {
    const { root, live, links } = fixture({
      'Apps/a.qvf': { set: 'aaaa backed up', live: 'aaaa backed up' },
      'Apps/b.qvf': { set: 'bbbb backed up', live: 'bbbb CHANGED!' },
    });
    await stageRoot(root, 'r3', 2, links);
    const copy = fs.statSync(path.join(live, '.qsadmin-restore-r3', 'Apps', 'b.qvf'));
    // between the attempts the live a.qvf is saved in place: the earlier link must not be kept as it is
    fs.writeFileSync(path.join(live, 'Apps', 'a.qvf'), 'AAAA saved new');
    const again = await stageRoot(root, 'r3', 2, links);
    expect(again.linked).toBe(0);
    expect(fs.statSync(path.join(live, '.qsadmin-restore-r3', 'Apps', 'b.qvf')).ino).toBe(copy.ino);
    swapRoot(root, 'r3');
    expect(read(live, 'Apps/a.qvf')).toBe('aaaa backed up');
    expect(read(live, 'Apps/b.qvf')).toBe('bbbb backed up');
  });

  it('by default a live file with the backup\'s size and mtime is kept (the quick check a nightly backup makes); checksum hashes it and copies the set\'s bytes', async () => {
    // same size, mtime set back: only its bytes tell it apart, as a tool that rewrites a file and restores its time
    const files = { 'Apps/rewritten.qvf': { set: 'app as backed up', live: 'app REWRITTEN up' }, 'Apps/same.qvf': { set: 'same bytes', live: 'same bytes' } };
    const quick = fixture(files);
    const q = await stageRoot(quick.root, 'q1', 2, quick.links);
    expect(q).toMatchObject({ linked: 2, bytes: 0 });
    swapRoot(quick.root, 'q1');
    expect(read(quick.live, 'Apps/rewritten.qvf')).toBe('app REWRITTEN up');

    const hashed = fixture(files);
    const h = await stageRoot(hashed.root, 'q2', 2, hashed.links, undefined, { checksum: true });
    expect(h).toMatchObject({ linked: 1, bytes: Buffer.byteLength('app as backed up') });
    swapRoot(hashed.root, 'q2');
    expect(read(hashed.live, 'Apps/rewritten.qvf')).toBe('app as backed up');
    expect(read(path.join(hashed.live, '.qsadmin-old-q2'), 'Apps/rewritten.qvf')).toBe('app REWRITTEN up');
    // a set that recorded no mtime (made before they were): every live file is hashed, as with checksum
    const old = fixture(files);
    for (const f of old.root.files) delete f.mtimeMs;
    expect(await stageRoot(old.root, 'q3', 2, old.links)).toMatchObject({ linked: 1 });
  });

  it('a live symbolic link is copied over from the set, never linked', async () => {
    const { root, live, links } = fixture({ 'Apps/a.qvf': { set: 'aaaa backed up' } });
    const elsewhere = path.join(path.dirname(live), 'elsewhere.qvf');
    fs.writeFileSync(elsewhere, 'aaaa backed up');
    // the file it points to has the backup's size, mtime and bytes: only the link itself tells it apart
    fs.utimesSync(elsewhere, new Date(root.files[0].mtimeMs!), new Date(root.files[0].mtimeMs!));
    fs.mkdirSync(path.join(live, 'Apps'), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(live, 'Apps', 'a.qvf'));
    const staged = await stageRoot(root, 'r5', 1, links);
    expect(staged.linked).toBe(0);
    swapRoot(root, 'r5');
    expect(fs.lstatSync(path.join(live, 'Apps', 'a.qvf')).isFile()).toBe(true);
    expect(read(live, 'Apps/a.qvf')).toBe('aaaa backed up');
  });

  it('where a hard link is refused, the files are copied from the set and the refusal is reported', async (ctx) => {
    const { root, live, links } = fixture({
      'Apps/a.qvf': { set: 'aaaa backed up', live: 'aaaa backed up' },
      'Apps/b.qvf': { set: 'bbbb backed up', live: 'bbbb backed up' },
    });
    // an immutable file cannot be linked, not even by root (EPERM): as on a share without hard links
    const locked = path.join(live, 'Apps', 'a.qvf');
    try {
      execFileSync('chattr', ['+i', locked], { stdio: 'pipe' });
    } catch (e) {
      // tmpfs has no immutable flag, and it needs root: nothing here can refuse a link
      return ctx.skip(`chattr +i is not possible here: ${(e as Error).message}`);
    }
    try {
      const staged = await stageRoot(root, 'r4', 1, links);
      expect(staged.noLinks).toMatch(/EPERM|not permitted/);
      expect(staged.linked).toBe(0);
      expect(staged.bytes).toBe(root.files.reduce((n, f) => n + f.bytes, 0));
    } finally {
      execFileSync('chattr', ['-i', locked]);
    }
    swapRoot(root, 'r4');
    expect(read(live, 'Apps/a.qvf')).toBe('aaaa backed up');
    expect(read(live, 'Apps/b.qvf')).toBe('bbbb backed up');
  });
});
