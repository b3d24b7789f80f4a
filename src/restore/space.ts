// Free space a restore needs before it starts: the staging copies inside each share folder (the set's files whose
// live copy differs in size or is missing: those that will be copied rather than linked) and the safety dumps (about
// the size of the set's own dumps of the same databases, made the same way). The database server's disk for the
// loaded copies is not checked: the server may be another machine; PostgreSQL names a full disk itself.
import fs from 'node:fs';
import path from 'node:path';
import type { SwapRoot } from './stage.js';
import { joinRel } from '../backup/safe-path.js';

/** Free bytes on the filesystem of a folder (its nearest existing parent), or null when it cannot be read. */
function freeBytes(dir: string): number | null {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  try {
    const s = fs.statfsSync(d);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/** Bytes a swap root's staging will copy: files whose live copy is missing or has another size. */
export function stagingBytes(root: SwapRoot): number {
  let n = 0;
  for (const f of root.files) {
    const st = fs.statSync(joinRel(root.local, f.rel), { throwIfNoEntry: false });
    if (!st || st.size !== f.bytes) n += f.bytes;
  }
  return n;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** Where there is not enough room, as lines naming the folder, the need and what is free (empty when fine). */
export function spaceProblems(needs: Array<{ what: string; dir: string; bytes: number }>): string[] {
  const out: string[] = [];
  for (const n of needs) {
    if (!n.bytes) continue;
    const free = freeBytes(n.dir);
    // 5 % headroom: the estimate is close, not exact (a dump of today's data, file system overhead).
    if (free !== null && free < n.bytes * 1.05) out.push(`${n.what} in ${n.dir}: needs about ${mib(n.bytes)}, ${mib(free)} free`);
  }
  return out;
}
