// Compression of database dumps: zstd (Debian's zstd binary), gzip (Node's zlib) or none.
// Share files are stored as they are: app files do not compress, and plain files allow hard-link incrementals.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { spawn, spawnSync } from 'node:child_process';
import { Duplex, PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';

export type Compression = 'zstd' | 'gzip' | 'none';

export const EXTENSION: Record<Compression, string> = { zstd: '.zst', gzip: '.gz', none: '' };

let zstdFound: boolean | undefined;

/** true when a zstd binary answers on PATH. */
export function zstdAvailable(): boolean {
  zstdFound ??= spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
  return zstdFound;
}

/** The default: zstd where its binary exists (fast, multi-threaded), else gzip level 1. */
export function defaultCompression(): Compression {
  return zstdAvailable() ? 'zstd' : 'gzip';
}

/** A child process as a Duplex stream (stdin → stdout) that errors when the child fails. */
function childDuplex(cmd: string, args: string[]): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (e) => d.destroy(e));
  // A reader that stops early (pg_restore --list reads only the table of contents) must not leave the child blocked.
  d.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  child.on('close', (code) => {
    if (code !== 0) d.destroy(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
  });
  return d;
}

/** A stream that compresses with the chosen method. */
export function compressor(c: Compression): Transform | Duplex {
  if (c === 'zstd') {
    if (!zstdAvailable()) throw new Error('zstd compression needs the zstd program on PATH (Debian: apt-get install zstd); or use --compress gzip');
    return childDuplex('zstd', ['-1', '-T0', '-q', '-c']);
  }
  if (c === 'gzip') return zlib.createGzip({ level: 1 });
  return new PassThrough();
}

/** A stream that undoes compressor(c). */
export function decompressor(c: Compression): Transform | Duplex {
  if (c === 'zstd') return childDuplex('zstd', ['-d', '-q', '-c']);
  if (c === 'gzip') return zlib.createGunzip();
  return new PassThrough();
}

/**
 * Write the decompressed content of `file` to `dest` (mode 0600). zstd writes the file itself and a plain file is a
 * kernel copy: the bytes do not pass through this process's event loop (busy with the other steps of a parallel
 * group, it made a 2 MB archive take 5 s to decompress). Only gzip is decompressed here.
 */
export async function decompressToFile(file: string, c: Compression, dest: string): Promise<void> {
  if (c === 'zstd') {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('zstd', ['-d', '-q', '-f', '-o', dest, '--', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd -d ${file} exited with ${code}: ${stderr.trim()}`))));
    });
    fs.chmodSync(dest, 0o600);
  } else if (c === 'none') {
    await fs.promises.copyFile(file, dest);
    fs.chmodSync(dest, 0o600);
  } else {
    await pipeline(fs.createReadStream(file), zlib.createGunzip(), fs.createWriteStream(dest, { mode: 0o600 }));
  }
}

/** The compression of a dump file, from its name. */
export function compressionOf(file: string): Compression {
  if (file.endsWith('.zst')) return 'zstd';
  if (file.endsWith('.gz')) return 'gzip';
  return 'none';
}
