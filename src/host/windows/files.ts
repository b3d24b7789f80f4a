// Files of a Windows node through node:fs: the local path on the node qsadmin runs on, the admin share
// \\<node>\C$\... for another node (Windows' default administrative shares; the caller must be an administrator
// there, which the runbooks already require).
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FileInfo, HostFiles } from '../types.js';

const win = path.win32;

export class WindowsFiles implements HostFiles {
  /** `remoteHost` is the node's hostname when qsadmin runs on another node; absent for the local node. */
  constructor(private readonly remoteHost?: string) {}

  resolve(windowsPath: string): string {
    if (windowsPath.startsWith('\\\\')) return windowsPath; // already a UNC path (a share on a file server)
    const m = /^([A-Za-z]):[\\/]?(.*)$/.exec(windowsPath);
    if (!m) throw new Error(`not an absolute Windows path: ${windowsPath}`);
    const local = win.normalize(`${m[1].toUpperCase()}:\\${m[2]}`);
    if (!this.remoteHost) return local;
    return win.join(`\\\\${this.remoteHost}\\${m[1].toUpperCase()}$\\`, m[2]);
  }

  async exists(p: string): Promise<boolean> {
    return fs.promises.access(this.resolve(p)).then(
      () => true,
      () => false,
    );
  }

  read(p: string): Promise<Buffer> {
    return fs.promises.readFile(this.resolve(p));
  }

  async write(p: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
    const file = this.resolve(p);
    await fs.promises.mkdir(win.dirname(file), { recursive: true });
    await fs.promises.writeFile(file, data, { mode: opts.mode });
  }

  remove(p: string): Promise<void> {
    return fs.promises.rm(this.resolve(p), { recursive: true, force: true });
  }

  async *walk(dir: string): AsyncIterable<FileInfo> {
    const root = this.resolve(dir);
    const stack = [root];
    while (stack.length) {
      const d = stack.pop()!;
      for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
        const full = win.join(d, e.name);
        if (e.isDirectory()) stack.push(full);
        else if (e.isFile()) {
          const st = await fs.promises.stat(full);
          yield { path: full, size: st.size, mtimeMs: st.mtimeMs, isDirectory: false };
        }
      }
    }
  }

  createReadStream(p: string): Readable {
    return fs.createReadStream(this.resolve(p));
  }
}
