// The apps a backup set holds, read from its QSR dump without restoring it: pg_restore prints the rows of the few
// tables an app needs (Apps, Streams, Users, Tags, TagApps, custom properties, the share folders) as COPY blocks,
// which are parsed here; and where each app's file (named by its id on the share) is stored in the set.
// A set may be a folder or a packed .tar: from a .tar only the entries asked for are extracted, into a private folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPgBinDir } from '../postgres/bin.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { hashFile } from './hashcopy.js';
import { archiveEntries } from './db-load.js';
import { manifestOfSet } from './sets.js';
import { tableDataText } from './pg-archive.js';
import type { Manifest, ManifestFile } from './manifest.js';

/** The QSR tables read for the app catalog. */
export const CATALOG_TABLES = ['Apps', 'Streams', 'Users', 'Tags', 'TagApps', 'CustomPropertyDefinitions', 'CustomPropertyValues', 'ServiceClusterSettingsSharedPersistenceProperties'] as const;

export type Rows = Array<Record<string, string | null>>;

/** One app as the backup knows it. */
export interface BackedUpApp {
  id: string;
  name: string;
  stream: { id: string; name: string } | null;
  published: boolean;
  owner: { id: string; userDirectory: string; userId: string } | null;
  fileSize: number;
  modified: string | null;
  tags: Array<{ id: string; name: string }>;
  customProperties: Array<{ definitionId: string; definition: string; value: string }>;
  /** The app file's entry in the set's manifest; null when the set does not hold it. */
  file: ManifestFile | null;
  /** Where the file would be in the set (path inside the set). */
  storedPath: string | null;
}

// Undo COPY text-format escapes in one field (\N is NULL).
function unescapeCopy(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return simple[e] ?? e;
  });
}

/** Parse the COPY ... FROM stdin blocks of pg_restore's SQL output: rows per table name. */
export function parseCopyBlocks(sql: string): Record<string, Rows> {
  const out: Record<string, Rows> = {};
  const lines = sql.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^COPY (?:"?[^".]+"?\.)?"?([^"(]+?)"? \((.*)\) FROM stdin;$/.exec(lines[i]);
    if (!m) continue;
    const cols = m[2].split(', ').map((c) => c.replace(/^"|"$/g, '').replace(/""/g, '"'));
    const rows: Rows = (out[m[1]] ??= []);
    for (i++; i < lines.length && lines[i] !== '\\.'; i++) {
      const fields = lines[i].split('\t');
      const row: Record<string, string | null> = {};
      cols.forEach((c, k) => (row[c] = unescapeCopy(fields[k] ?? '\\N')));
      rows.push(row);
    }
  }
  return out;
}

/** A set opened for reading single files: a folder as it is, a .tar extracted entry by entry on demand. */
export class SetReader {
  private extracted?: string;

  // Use SetReader.open.
  private constructor(
    readonly setPath: string,
    readonly manifest: Manifest,
    private readonly packed: boolean,
    private readonly scratchParent: string,
  ) {}

  // Open a set (folder or .tar); scratchParent is where extracted entries go (a private folder of the run).
  static async open(setPath: string, scratchParent: string): Promise<SetReader> {
    if (!fs.existsSync(setPath)) throw new InputError(`no backup at ${setPath}`, 'give a backup set folder or .tar, or an id that `qsadmin backup list` shows');
    const packed = fs.statSync(setPath).isFile();
    if (packed && !setPath.endsWith('.tar')) throw new InputError(`${setPath} is neither a backup set folder nor a .tar`, 'give a backup set folder or the .tar of a --single-file set');
    return new SetReader(setPath, await manifestOfSet(setPath), packed, scratchParent);
  }

  // A local path of a file of the set (extracting it from a .tar first); the caller checks its checksum.
  async file(rel: string): Promise<string> {
    if (!this.packed) return path.join(this.setPath, ...rel.split('/'));
    this.extracted ??= fs.mkdtempSync(path.join(this.scratchParent, 'set-'));
    const out = path.join(this.extracted, ...rel.split('/'));
    if (fs.existsSync(out)) return out;
    const tar = await import('tar');
    await tar.extract({
      file: this.setPath,
      cwd: this.extracted,
      strict: true,
      preserveOwner: false,
      filter: (p, entry) => p.replace(/^\.\//, '') === rel && (!('type' in entry) || entry.type === 'File' || entry.type === 'OldFile'),
    });
    if (!fs.existsSync(out)) throw new VerificationError(`${rel} is listed in the manifest of ${this.setPath} but not in the archive`, 'the set is damaged: use another set (qsadmin backup list)');
    return out;
  }

  // Remove what was extracted.
  close(): void {
    if (this.extracted) fs.rmSync(this.extracted, { recursive: true, force: true });
    this.extracted = undefined;
  }
}

/** A file of the set with its checksum checked against the manifest; a mismatch is a damaged set (exit 4). */
export async function checkedSetFile(reader: SetReader, f: ManifestFile): Promise<string> {
  const p = await reader.file(f.path);
  const w = await hashFile(p);
  if (w.bytes !== f.bytes || w.sha256 !== f.sha256) {
    throw new VerificationError(
      `${f.path} in ${reader.setPath} is damaged: ${w.bytes !== f.bytes ? `${w.bytes} bytes, the manifest says ${f.bytes}` : `sha256 ${w.sha256}, the manifest says ${f.sha256}`}`,
      'nothing was uploaded; use another set (qsadmin backup list), or check this one with qsadmin backup verify',
    );
  }
  return p;
}

/** The rows of the catalog tables from the set's QSR dump (checked against the manifest first). */
export async function readCatalogRows(reader: SetReader): Promise<Record<string, Rows>> {
  return readQsrTables(reader, CATALOG_TABLES);
}

/** The rows of some QSR tables from the set's dump, without restoring it (pg_restore --data-only prints them). */
export async function readQsrTables(reader: SetReader, tables: readonly string[], binDir?: string): Promise<Record<string, Rows>> {
  const m = reader.manifest;
  const archives = archiveEntries(m, 'QSR');
  if (!archives) throw new InputError(`the backup ${reader.setPath} has no QSR dump`, 'this needs a qsadmin backup set with its repository database (see qsadmin backup show)');
  const tool = { binDir: binDir ?? (await findPgBinDir({})).dir };
  const out: Record<string, Rows> = {};
  const inMain: string[] = [];
  for (const t of tables) {
    const own = archives.tables.find((f) => f.table?.name === t);
    if (!own) {
      inMain.push(t);
      continue;
    }
    Object.assign(out, parseCopyBlocks(await tableDataText(tool, await checkedSetFile(reader, own), own.compression ?? 'none', [t])));
  }
  if (inMain.length) Object.assign(out, parseCopyBlocks(await tableDataText(tool, await checkedSetFile(reader, archives.main), archives.main.compression ?? 'none', inMain)));
  for (const t of tables) out[t] ??= [];
  return out;
}

// The folder of `p` relative to `root` as a set path ('' for the root itself), or null when outside it.
function relativeInside(root: string, p: string): string | null {
  const win = /^[A-Za-z]:\\|^\\\\/.test(root);
  const lib = win ? path.win32 : path.posix;
  const norm = (s: string) => (win ? lib.normalize(s).toLowerCase() : lib.normalize(s)).replace(/[\\/]+$/, '');
  const rel = lib.relative(norm(root), norm(p));
  if (rel.startsWith('..') || lib.isAbsolute(rel)) return null;
  return rel.split(/[\\/]/).filter(Boolean).join('/');
}

/** Where the set stores the share's app folder: a share folder of its own, or a folder under the stored root. */
export function storedAppFolder(m: Manifest, spp: Record<string, string | null> | undefined): string | null {
  const own = m.site.share.find((s) => s.role === 'AppFolder');
  if (own) return own.stored;
  const root = m.site.share.find((s) => s.role === 'RootFolder');
  if (!root) return null;
  const appFolder = spp?.AppFolder ?? null;
  if (!appFolder) return `${root.stored}/Apps`;
  const rel = relativeInside(root.path, appFolder);
  return rel === null ? null : rel ? `${root.stored}/${rel}` : root.stored;
}

/** Every app of the backup, with what is needed to restore it. */
export async function readBackedUpApps(reader: SetReader): Promise<BackedUpApp[]> {
  const t = await readCatalogRows(reader);
  const byId = <K extends string>(rows: Rows) => new Map(rows.map((r) => [r.ID as K, r]));
  const users = byId(t.Users);
  const streams = byId(t.Streams);
  const tags = byId(t.Tags);
  const defs = byId(t.CustomPropertyDefinitions);
  const files = new Map(reader.manifest.files.map((f) => [f.path, f]));
  const folder = storedAppFolder(reader.manifest, t.ServiceClusterSettingsSharedPersistenceProperties[0]);
  return t.Apps.map((a) => {
    const id = a.ID!;
    const owner = a.OwnerID ? users.get(a.OwnerID) : undefined;
    const stream = a.StreamID ? streams.get(a.StreamID) : undefined;
    const storedPath = folder ? `${folder}/${id}` : null;
    return {
      id,
      name: a.Name ?? '',
      stream: stream ? { id: stream.ID!, name: stream.Name ?? '' } : null,
      published: a.Published === 't',
      owner: owner ? { id: owner.ID!, userDirectory: owner.UserDirectory ?? '', userId: owner.UserId ?? '' } : null,
      fileSize: Number(a.FileSize ?? 0),
      modified: a.ModifiedDate ? `${a.ModifiedDate.replace(' ', 'T')}Z` : null,
      tags: t.TagApps.filter((x) => x.AppID === id && x.TagID && tags.has(x.TagID)).map((x) => ({ id: x.TagID!, name: tags.get(x.TagID!)!.Name ?? '' })),
      customProperties: t.CustomPropertyValues.filter((v) => v.ObjectID === id && v.DefinitionID && defs.has(v.DefinitionID)).map((v) => ({
        definitionId: v.DefinitionID!,
        definition: defs.get(v.DefinitionID!)!.Name ?? '',
        value: v.Value ?? '',
      })),
      file: storedPath ? (files.get(storedPath) ?? null) : null,
      storedPath,
    };
  }).sort((x, y) => x.name.localeCompare(y.name) || x.id.localeCompare(y.id));
}

/** The app of the backup named by `ref`: its id, else its name (which must be unique); bad input otherwise. */
export function findBackedUpApp(apps: BackedUpApp[], ref: string, setPath: string): BackedUpApp {
  const byId = apps.find((a) => a.id === ref.toLowerCase());
  if (byId) return byId;
  const byName = apps.filter((a) => a.name === ref);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) throw new InputError(`${byName.length} apps in the backup ${setPath} are named "${ref}": ${byName.map((a) => a.id).join(', ')}`, 'pass --app with the id of the one to restore (see qsadmin backup apps)');
  const isGuid = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(ref);
  throw new InputError(`the backup ${setPath} holds no app ${isGuid ? 'with id' : 'named'} "${ref}"`, `list the apps it holds with: qsadmin backup apps ${setPath}`);
}

/** The apps of a set given by path (a .tar's QSR dump is extracted into a private temp folder, removed after). */
export async function listBackupApps(setPath: string): Promise<BackedUpApp[]> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-backup-apps-'));
  try {
    const reader = await SetReader.open(setPath, scratch);
    try {
      return await readBackedUpApps(reader);
    } finally {
      reader.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
