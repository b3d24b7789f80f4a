// Files of a Windows node through node:fs: the local path on the node qsadmin runs on, the admin share
// \\<node>\C$\... for another node (Windows' default administrative shares; the caller must be an administrator
// there, which the runbooks already require).
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FileInfo, HostFiles } from '../types.js';
import { MKDIR_PRIVATE, WRITE_PRIVATE } from './ps/private.js';
import type { PsSession } from './session.js';
import { onThisMachine } from './drive-root.js';

const win = path.win32;

export class WindowsFiles implements HostFiles {
  /**
   * `remoteHost` is the node's hostname when qsadmin runs on another node; absent for the local node. The session
   * creates private files (their ACL is set by the call that creates them, which node:fs cannot do).
   */
  constructor(
    private readonly remoteHost?: string,
    private readonly session?: PsSession,
  ) {}

  private ps(): PsSession {
    if (!this.session) throw new Error('private files on Windows need the node\'s PowerShell session');
    return this.session;
  }

  // Private files are made locally on the node that holds them (a UNC path to another node is opened there).
  private local(p: string): string {
    return /^[A-Za-z]:[\\/]/.test(p) ? win.normalize(p) : this.resolve(p);
  }

  async mkdirPrivate(dir: string): Promise<void> {
    await this.ps().run(MKDIR_PRIVATE, { Dir: this.local(dir) });
  }

  async writePrivate(file: string, data: Buffer | string): Promise<void> {
    await this.mkdirPrivate(win.dirname(this.local(file)));
    await this.ps().run(WRITE_PRIVATE, { File: this.local(file), Base64: Buffer.from(data).toString('base64') });
  }

  /** A new private file opened for writing: created empty with its ACL first, then opened by node:fs. */
  async openPrivate(file: string): Promise<fs.promises.FileHandle> {
    await this.writePrivate(file, '');
    return fs.promises.open(this.resolve(file), 'r+');
  }

  resolve(windowsPath: string): string {
    return onThisMachine(this.windowsForm(windowsPath));
  }

  /** The path as Windows on the machine qsadmin runs on opens it: local, a UNC share, or the node's admin share. */
  windowsForm(windowsPath: string): string {
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
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
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
        const full = path.join(d, e.name);
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
