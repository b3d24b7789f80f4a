// A set packed into one .tar (--single-file): packing, and unpacking that refuses what a set never holds.
//
// A .tar is a set when its first entry is one of a set's top folders (the packer writes them first and manifest.json
// last); anything else is "not a set" (exit 2). Unpacking refuses, rather than drops or strips as node-tar does by
// default, every entry that is not a plain file or folder with a safe relative path (safe-path.ts): "../", absolute
// paths, symbolic and hard links, devices, FIFOs. A refused entry, a truncated archive or one without a manifest is a
// damaged set (exit 4). On any failure the folder unpacked into is removed: the caller gives a fresh temp folder.
import fs from 'node:fs';
import { openPrivateSync } from '../host/private-files.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { MANIFEST, VERIFIED } from './manifest.js';
import { SET_TOP_FOLDERS } from './manifest-check.js';
import { unsafePathReason } from './safe-path.js';

const NOT_A_SET_HINT = 'give a qsadmin backup set: a set folder, or the .tar that `backup create --single-file` writes (see qsadmin backup list)';
const PLAIN_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/** Pack a finished set folder into `out` (via `<out>.partial`): folders first, manifest.json last, no link entries. */
export async function packSetTar(setDir: string, out: string): Promise<void> {
  const tar = await import('tar');
  const entries = fs.readdirSync(setDir).filter((e) => e !== MANIFEST && e !== VERIFIED).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const tmp = `${out}.partial`;
  // node-tar truncates an existing file: created 0600 here first, the archive of keys and dumps is private from its first byte.
  fs.closeSync(openPrivateSync(tmp));
  // A cache that never remembers: a file with several links is stored as itself, so unpacking never sees a link.
  const linkCache = { get: () => undefined, set: () => linkCache, has: () => false } as unknown as Map<never, string>;
  await tar.create({ file: tmp, cwd: setDir, portable: true, linkCache }, [...entries, MANIFEST]);
  const fd = fs.openSync(tmp, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, out);
}

function rank(name: string): number {
  const i = SET_TOP_FOLDERS.indexOf(name);
  return i < 0 ? SET_TOP_FOLDERS.length : i;
}

/** The first entry's name of a tar file, or null when the file does not start with a valid tar header. */
function firstEntryName(file: string, Header: typeof import('tar').Header): string | null {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    if (fs.readSync(fd, buf, 0, 512, 0) < 512) return null;
    let h: import('tar').Header;
    try {
      h = new Header(buf);
    } catch {
      return null;
    }
    return h.cksumValid && !h.nullBlock && h.path ? h.path : null;
  } finally {
    fs.closeSync(fd);
  }
}

/** Throw "not a set" (exit 2) unless `file` starts like a packed set. */
export async function checkLooksLikeSetTar(file: string): Promise<void> {
  const { Header } = await import('tar');
  const first = firstEntryName(file, Header);
  const top = first?.replace(/^\.\//, '').split('/')[0];
  if (!first || !top || ![...SET_TOP_FOLDERS, MANIFEST].includes(top)) {
    throw new InputError(`${file} is not a qsadmin backup set: ${first ? `its first entry is ${JSON.stringify(first)}, not one of a set's folders (${SET_TOP_FOLDERS.join(', ')})` : 'it does not start with a tar header'}`, NOT_A_SET_HINT);
  }
}

/** Unpack a packed set into the empty folder `dest`, refusing hostile entries; removes `dest` on any failure. */
export async function unpackSetTar(file: string, dest: string): Promise<void> {
  await checkLooksLikeSetTar(file);
  const tar = await import('tar');
  let refused: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const unpack = new tar.Unpack({
        cwd: dest,
        strict: true,
        preserveOwner: false,
        // Checked on the entry's raw header, before node-tar would strip or drop anything.
        filter: (p, entry) => {
          if (refused) return false;
          const type = 'type' in entry ? entry.type : 'File';
          const rel = p.replace(/\/+$/, '');
          const why = !PLAIN_TYPES.has(type) ? `it is a ${type} entry (a set holds only files and folders)` : unsafePathReason(rel) ? `its path has ${unsafePathReason(rel)}` : null;
          if (why) refused = `entry ${JSON.stringify(p)} of ${file} is refused: ${why}`;
          return !refused;
        },
      });
      // Entries of a type node-tar does not know are dropped before the filter sees them: refuse those too.
      unpack.on('ignoredEntry', (entry: { path: string; type: string; meta?: boolean }) => {
        if (!entry.meta) refused ??= `entry ${JSON.stringify(entry.path)} of ${file} is refused: it is of an unknown type (${entry.type})`;
      });
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
      const src = fs.createReadStream(file, { highWaterMark: 1 << 20 });
      src.on('error', reject);
      src.pipe(unpack);
    });
  } catch (e) {
    fs.rmSync(dest, { recursive: true, force: true });
    if (refused) throw new VerificationError(refused, 'the archive was altered or is not a qsadmin set: use another set');
    const msg = (e as Error).message;
    throw new VerificationError(`${file} is a damaged backup set: ${/Truncated/i.test(msg) ? `the archive is truncated (${msg})` : msg}`, 'use another set (qsadmin backup list); a copy of this one may be intact');
  }
  if (refused) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw new VerificationError(refused, 'the archive was altered or is not a qsadmin set: use another set');
  }
  if (!fs.existsSync(`${dest}/${MANIFEST}`)) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw new VerificationError(`${file} is a damaged backup set: it has no ${MANIFEST} (a packed set ends with it: the archive is cut short or incomplete)`, 'use another set (qsadmin backup list)');
  }
}
