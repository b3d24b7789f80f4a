// Writing the files of an emulated share: app files (named by app ID, no extension, as Qlik stores them),
// static content (content libraries, extensions, app content) and log files, all from a seeded generator.
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Prng } from './prng.js';

const CHUNK = 8 << 20;

export interface PlannedFile {
  /** Absolute path to write. */
  file: string;
  size: number;
  /** Key of the file's content (the same key writes the same bytes). */
  key: string;
}

// Run fn over items with at most `limit` in flight.
export async function inPool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// Write a file of mostly incompressible bytes: each 8 MiB chunk is random except its first sixteenth, a repeated
// text block (app files compress a little, not much). Generation overlaps the previous chunk's write.
export async function writeRandomFile(file: string, size: number, key: string): Promise<void> {
  const prng = new Prng(key);
  const pattern = Buffer.from(`${key} qsadmin emulated app data block\n`.repeat(64));
  const bufs = [Buffer.alloc(Math.min(CHUNK, size)), Buffer.alloc(Math.min(CHUNK, size))];
  const fh = await open(file, 'w');
  try {
    const writes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
    for (let off = 0, k = 0; off < size; off += CHUNK, k++) {
      const n = Math.min(CHUNK, size - off);
      const buf = bufs[k & 1].subarray(0, n);
      await writes[k & 1]; // this buffer's previous write (two chunks back); the last chunk's write goes on
      prng.fill(buf);
      buf.fill(pattern, 0, n >>> 4);
      if (off === 0) buf.write(`QSADMIN-EMULATED-APP ${key}\n`, 0, 'latin1');
      writes[k & 1] = fh.write(buf, 0, n, off);
    }
    await Promise.all(writes);
  } finally {
    await fh.close();
  }
}

// Text of exactly `size` bytes (ASCII) made of generated lines.
export function textOfSize(size: number, line: (i: number) => string): string {
  const parts: string[] = [];
  let len = -1; // the joined text has one newline fewer than lines
  for (let i = 0; len < size; i++) {
    const l = line(i);
    parts.push(l);
    len += l.length + 1;
  }
  return parts.join('\n').slice(0, size);
}

// A file that looks like an image: PNG signature, then random bytes.
function imageBytes(prng: Prng, size: number): Buffer {
  const b = Buffer.alloc(size);
  prng.fill(b);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b);
  return b;
}

// Script-like text for .js/.css/.json/.qext/.html files (compresses well, as real ones do).
function codeText(prng: Prng, size: number, ext: string): string {
  const words = ['render', 'paint', 'layout', 'data', 'hypercube', 'measure', 'dimension', 'qMatrix', 'qText', 'selections'];
  return textOfSize(size, (i) => {
    const a = prng.pick(words);
    const b = prng.pick(words);
    if (ext === '.css') return `.qv-${a}-${i} { margin: ${prng.int(0, 40)}px; color: #${prng.next().toString(16).slice(0, 6)}; }`;
    if (ext === '.json' || ext === '.qext') return `  "${a}${i}": { "${b}": ${prng.int(0, 100000)}, "enabled": ${prng.float() < 0.5} },`;
    return `  function ${a}_${i}(${b}, layout) { return layout.${b}.${a} * ${prng.int(1, 999)} + ${b}.length; }`;
  });
}

// Write a static-content file (an image or text) of the planned size.
export async function writeStaticFile(f: PlannedFile): Promise<void> {
  const prng = new Prng(f.key);
  const ext = path.extname(f.file);
  await mkdir(path.dirname(f.file), { recursive: true });
  const binary = ['.png', '.jpg', '.gif', '.woff'].includes(ext);
  await writeFile(f.file, binary ? imageBytes(prng, f.size) : codeText(prng, f.size, ext));
}

const LOG_MESSAGES = [
  'Reload task "{t}" for app {a} started by INTERNAL\\sa_scheduler',
  'Sync of {n} entities to node {h} completed',
  'Security rule evaluation of {n} resources took {ms} ms',
  'License check for user CORP\\user{n}: Professional access granted',
  'Engine session {a} opened for app {t}',
  'Proxy: ticket {a} consumed, session cookie X-Qlik-Session issued',
  'Persisted {n} changes to repository database in {ms} ms',
  'Certificate with thumbprint {a} validated',
];

// Write a Qlik-style tab-separated log file (Sequence#, Timestamp, Level, Hostname, Logger, Thread, Id, User, Message).
export async function writeLogFile(f: PlannedFile & { host: string; service: string; start: Date }): Promise<void> {
  const prng = new Prng(f.key);
  let t = f.start.getTime();
  const header = 'Sequence#\tTimestamp\tLevel\tHostname\tLogger\tThread\tId\tServiceUser\tMessage';
  const body = textOfSize(f.size, (i) => {
    if (i === 0) return header;
    t += prng.int(10, 5000);
    const msg = prng
      .pick(LOG_MESSAGES)
      .replace('{t}', `Task${prng.int(1, 500)}`)
      .replace('{a}', prng.next().toString(16) + prng.next().toString(16))
      .replace('{n}', String(prng.int(1, 20000)))
      .replace('{h}', f.host)
      .replace('{ms}', String(prng.int(1, 900)));
    const level = prng.float() < 0.92 ? 'INFO' : prng.pick(['WARN', 'ERROR', 'DEBUG']);
    return `${i}\t${new Date(t).toISOString().replace('Z', '+0000')}\t${level}\t${f.host}\t${f.service}.${prng.pick(['Sync', 'Rules', 'Db', 'Web'])}\t${prng.int(1, 200)}\t${prng.next().toString(16)}\tINTERNAL\\sa_repository\t${msg}`;
  });
  await mkdir(path.dirname(f.file), { recursive: true });
  await writeFile(f.file, body);
}
