// Compression of database dumps: zstd (Debian's zstd binary), gzip (Node's zlib) or none.
// Share files are stored as they are: app files do not compress, and plain files allow hard-link incrementals.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { spawn, spawnSync } from 'node:child_process';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { createPrivateWriteStream, openPrivateSync } from '../host/private-files.js';
import { childEnv, ownGroup, track } from '../runbook/children.js';

export type Compression = 'zstd' | 'gzip' | 'none';

export const EXTENSION: Record<Compression, string> = { zstd: '.zst', gzip: '.gz', none: '' };

let zstdFound: boolean | undefined;

/** true when a zstd binary answers on PATH. */
export function zstdAvailable(): boolean {
  zstdFound ??= spawnSync('zstd', ['--version'], { stdio: 'ignore', env: childEnv() }).status === 0;
  return zstdFound;
}

/** The default: zstd where its binary exists (fast, multi-threaded), else gzip level 1. */
export function defaultCompression(): Compression {
  return zstdAvailable() ? 'zstd' : 'gzip';
}

/**
 * Run zstd to its end: it reads a file or the pipe handed to it as stdin (another process's stdout) and writes a file,
 * so the bytes never pass through this process, whose event loop serves the other steps of a parallel group. Rejects
 * with zstd's own message.
 */
export function runZstd(args: string[], stdin: 'ignore' | Readable = 'ignore', stdout: 'ignore' | number = 'ignore'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // stdout: a file descriptor the caller opened private (zstd -o would create its file 0666 minus the umask);
    // nothing secret in its environment; a process group of its own (children.ts)
    const z = track(spawn('zstd', args, { stdio: [stdin, stdout, 'pipe'], env: childEnv(), ...ownGroup() }));
    let stderr = '';
    z.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    z.on('error', (e) => reject(new Error(`zstd could not start (${e.message}): install zstd (Debian: apt-get install zstd) or use --compress gzip`)));
    z.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd ${args.join(' ')} exited with ${code}: ${stderr.trim()}`))));
  });
}

/** A stream that compresses with gzip (level 1) or passes through; zstd runs as its own process (runZstd). */
export function compressor(c: Exclude<Compression, 'zstd'>): Transform {
  return c === 'gzip' ? zlib.createGzip({ level: 1 }) : new PassThrough();
}

/** A stream that undoes compressor(c). */
export function decompressor(c: Exclude<Compression, 'zstd'>): Transform {
  return c === 'gzip' ? zlib.createGunzip() : new PassThrough();
}

/**
 * Write the decompressed content of `file` to `dest` (mode 0600). zstd writes the file itself and a plain file is a
 * kernel copy: the bytes do not pass through this process's event loop (busy with the other steps of a parallel
 * group, it made a 2 MB archive take 5 s to decompress). Only gzip is decompressed here.
 */
export async function decompressToFile(file: string, c: Compression, dest: string): Promise<void> {
  if (c === 'zstd') {
    const fd = openPrivateSync(dest);
    try {
      await runZstd(['-d', '-q', '-c', '--', file], 'ignore', fd);
    } finally {
      fs.closeSync(fd);
    }
  } else if (c === 'none') {
    await fs.promises.copyFile(file, dest);
    fs.chmodSync(dest, 0o600);
  } else {
    await pipeline(fs.createReadStream(file), decompressor(c), createPrivateWriteStream(dest));
  }
}

/** The compression of a dump file, from its name. */
export function compressionOf(file: string): Compression {
  if (file.endsWith('.zst')) return 'zstd';
  if (file.endsWith('.gz')) return 'gzip';
  return 'none';
}
