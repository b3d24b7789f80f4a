// What is on disk in a set folder: its regular files (relative, forward slashes), anything else refused (a symlink
// or a device in a set would make a reader follow it out of the set), and the temp files a killed writer leaves.
import fs from 'node:fs';
import path from 'node:path';
import { joinRel } from './safe-path.js';

export interface SetScan {
  files: string[];
  /** Entries that are neither regular files nor folders, named with their type. */
  refused: string[];
}

/** Every entry under a set folder, without following links. */
export function scanSet(dir: string): SetScan {
  const out: SetScan = { files: [], refused: [] };
  const walk = (prefix: string) => {
    for (const e of fs.readdirSync(prefix ? joinRel(dir, prefix) : dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (e.isFile()) out.files.push(rel);
      else out.refused.push(`${rel}: a ${e.isSymbolicLink() ? 'symbolic link' : 'special file'} in the set (a set holds only files and folders)`);
    }
  };
  walk('');
  return out;
}

/** The temp names of qsadmin's writers: `<file>.partial`, `<file>.<pid>.tmp`, `<file>.<pid>.<hex or time>.tmp`. */
export const TEMP_FILE = /\.partial$|\.\d+(\.[0-9a-f]+)?\.tmp$/;

/**
 * Remove the temp files a killed run left in a set folder (never a file the manifest lists); returns their paths and
 * the set's entries after.
 * Only a run that owns the set calls this, before its manifest is written.
 */
export function removeTempFiles(dir: string, listed: Set<string>): { removed: string[]; scan: SetScan } {
  const removed: string[] = [];
  const scan = scanSet(dir);
  for (const rel of scan.files) {
    if (listed.has(rel) || !TEMP_FILE.test(path.posix.basename(rel))) continue;
    fs.rmSync(joinRel(dir, rel), { force: true });
    removed.push(rel);
  }
  // What is there now, for a caller that checks the set next (one walk of a 30,000-file set instead of two).
  const gone = new Set(removed);
  return { removed, scan: { files: scan.files.filter((f) => !gone.has(f)), refused: scan.refused } };
}

/**
 * Flush the whole file system that holds `dir` (syncfs(2), through coreutils' `sync -f`): every dirty file and folder
 * on it, the set's among them, in one pass and one device flush. On Linux that is what a set needs before its
 * manifest: an fsync per file costs a device flush each, 4.9 s for the 30,000 files of an xlarge full backup. False
 * when it could not be done (no `sync -f`): then the files are flushed one by one.
 */
async function syncFileSystem(dir: string): Promise<boolean> {
  const { execa } = await import('execa');
  const { childEnv } = await import('../runbook/children.js');
  // The environment built for children (no password of ours), not this process's.
  const r = await execa('sync', ['-f', dir], { reject: false, stdin: 'ignore', env: childEnv(), extendEnv: false });
  return r.exitCode === 0;
}

/**
 * fsync the files of a set (those not linked from the base set) and every folder holding one, so that the manifest
 * written next never describes bytes that are only in the page cache. On Linux, one syncfs of the set's file system
 * does it (syncFileSystem). Elsewhere, files are flushed a few at a time on the thread pool. Windows flushes only
 * through a handle opened for writing (a set's files are read-only, so each is made writable for the moment) and
 * cannot open folders (NTFS journals its renames).
 */
export async function syncSetFiles(dir: string, files: Array<{ path: string; reused?: boolean }>, parallel = 8): Promise<void> {
  if (process.platform === 'linux' && (await syncFileSystem(dir))) return;
  const win = process.platform === 'win32';
  // A file linked from the base set was flushed when that set was written; its new name is in a folder synced below.
  const queue = files.filter((f) => !f.reused).map((f) => f.path);
  const worker = async () => {
    for (let rel = queue.shift(); rel !== undefined; rel = queue.shift()) {
      const p = joinRel(dir, rel);
      const mode = win ? fs.statSync(p).mode : 0;
      if (win) fs.chmodSync(p, 0o644);
      const h = await fs.promises.open(p, win ? 'r+' : 'r');
      try {
        await h.sync();
      } finally {
        await h.close();
        if (win) fs.chmodSync(p, mode);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, worker));
  if (win) return;
  const folders = new Set<string>(['']);
  for (const { path: rel } of files) for (let d = path.posix.dirname(rel); d !== '.'; d = path.posix.dirname(d)) folders.add(d);
  // Folders too a few at a time on the thread pool: one by one on this thread, the thousands of a large share's set
  // took half a second of an xlarge nightly (ext4 lets concurrent fsyncs share a journal commit).
  const dirs = [...folders];
  const syncFolder = async () => {
    for (let d = dirs.pop(); d !== undefined; d = dirs.pop()) {
      const h = await fs.promises.open(d ? joinRel(dir, d) : dir, 'r');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, dirs.length) }, syncFolder));
}
