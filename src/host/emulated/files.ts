// HostFiles over an emulated node directory: Windows paths (C:\...) map into the node, local absolute paths pass through.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FileInfo, HostFiles } from '../types.js';
import { windowsToEmulated } from '../paths.js';
import { mkdirPrivate, openPrivate, writePrivate } from '../private-files.js';

// True when a path is written the Windows way (drive letter).
function isWindowsPath(p: string): boolean {
  return /^[A-Za-z]:([\\/]|$)/.test(p);
}

export class EmulatedFiles implements HostFiles {
  // Files of the node whose C: drive is the directory `root`.
  constructor(readonly root: string) {}

  // Map a Windows path of this node to the local path (a local absolute path is returned as is).
  resolve(windowsPath: string): string {
    return windowsToEmulated(this.root, windowsPath);
  }

  // True when the file or folder exists.
  async exists(p: string): Promise<boolean> {
    try {
      await fsp.access(this.resolve(p));
      return true;
    } catch {
      return false;
    }
  }

  // Read a whole file.
  async read(p: string): Promise<Buffer> {
    return fsp.readFile(this.resolve(p));
  }

  // Write a whole file through a temporary name and a rename, creating its folder.
  async write(p: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
    const file = this.resolve(p);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await fsp.writeFile(tmp, data, { mode: opts.mode ?? 0o644 });
    if (opts.mode !== undefined) await fsp.chmod(tmp, opts.mode);
    await fsp.rename(tmp, file);
  }

  // A folder readable by the caller only (0700 from its mkdir; on the emulated node, as on the machine qsadmin runs on).
  async mkdirPrivate(p: string): Promise<void> {
    await mkdirPrivate(this.resolve(p));
  }

  // A whole file readable by the caller only (0600 from its open), through a temporary name and a rename.
  async writePrivate(p: string, data: Buffer | string): Promise<void> {
    await writePrivate(this.resolve(p), data);
  }

  // A new file readable by the caller only, open for writing.
  async openPrivate(p: string): Promise<fsp.FileHandle> {
    return openPrivate(this.resolve(p));
  }

  // Delete a file or a folder with everything in it; a missing path is not an error.
  async remove(p: string): Promise<void> {
    await fsp.rm(this.resolve(p), { recursive: true, force: true });
  }

  // Every file under a folder, recursively and sorted by name; paths come back in the form the folder was given (Windows or local).
  async *walk(dir: string): AsyncIterable<FileInfo> {
    const join = isWindowsPath(dir) ? path.win32.join : path.join;
    yield* this.walkFrom(dir, this.resolve(dir), join, true);
  }

  // Walk one folder: its files, then its sub-folders, in name order.
  private async *walkFrom(shown: string, local: string, join: (a: string, b: string) => string, top: boolean): AsyncIterable<FileInfo> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(local, { withFileTypes: true });
    } catch (e) {
      if (!top && (e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while walking
      throw e;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const next = path.join(local, e.name);
      if (e.isFile()) {
        const st = await fsp.stat(next);
        yield { path: join(shown, e.name), size: st.size, mtimeMs: st.mtimeMs, isDirectory: false };
      } else if (e.isDirectory()) {
        yield* this.walkFrom(join(shown, e.name), next, join, false);
      }
    }
  }

  // A stream of a file's bytes.
  createReadStream(p: string): Readable {
    return fs.createReadStream(this.resolve(p));
  }
}
