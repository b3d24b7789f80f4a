// The backup set's manifest (format 1): written last and atomically, so "has a manifest" means "complete".
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VerificationError } from '../runbook/errors.js';
import { faultPoint } from '../runbook/fault.js';
import { fsyncDir, writeFileAtomic } from '../runbook/fsutil.js';
import type { ContentsState, DbStamp, TableState } from './db-tables.js';
import type { AppendPart } from './db-append.js';

export const FORMAT = 1;
export const MANIFEST = 'manifest.json';
/** Written when a set is started: a set with this file and no manifest is incomplete. */
export const IN_PROGRESS = 'in-progress.json';
/** Written by verification (the manifest itself is never changed after it is written). */
export const VERIFIED = 'verified.json';

export type FileKind = 'db' | 'globals' | 'share' | 'share-outside' | 'extra' | 'log' | 'custom-data' | 'cert' | 'config'
  // Qlik Alerting (src/alerting/backup.ts): the mongodump folder and its summary, default.json, config\certificates.
  | 'alerting-db' | 'alerting-config' | 'alerting-cert';

export interface ManifestFile {
  /** Path inside the set, with forward slashes. */
  path: string;
  bytes: number;
  sha256: string;
  kind: FileKind;
  /** Where it came from (Windows or local path) and its node, for restore. */
  source?: string;
  node?: string;
  /** Source modification time, for the next incremental's quick check. */
  mtimeMs?: number;
  /** Hard-linked from the base set instead of written again. */
  reused?: boolean;
  /** For dumps: the database and compression. */
  database?: string;
  compression?: 'zstd' | 'gzip' | 'none';
  /** For a table's own data archive: the table, and its state when dumped (the next backup's reuse check). */
  table?: TableState;
  /** For a part of an append-only table's chain (db-append.ts): which rows it holds, their count and hash. */
  append?: AppendPart;
  /** For the one archive of a small database: what it held when dumped (the next backup's reuse check). */
  contents?: ContentsState;
}

export interface ManifestDatabase {
  name: string;
  owner: string;
  encoding: string;
  sizeBytes: number;
  dumped: boolean;
  /** Row count per table ("schema"."table"), counted in the same snapshot as the dump. */
  rowCounts?: Record<string, number>;
  /** Why a database in the cluster was not dumped. */
  reason?: string;
  /** What makes this capture's change counters comparable with the next one's (see db-tables.ts). */
  stamp?: DbStamp;
}

export interface ManifestShareFolder {
  /** What QSR calls it: RootFolder, AppFolder, StaticContentRootFolder, ArchivedLogsRootFolder, or extra. */
  role: string;
  /** The path as QSR (or --extra-path) gives it. */
  path: string;
  /** Folder inside the set. */
  stored: string;
  outsideRoot: boolean;
}

export interface Manifest {
  format: number;
  tool: { name: 'qsadmin'; version: string };
  id: string;
  runId: string;
  created: string;
  completed: string;
  durationMs: number;
  /** From the first service stopped to the last service started. */
  downtimeMs: number;
  capture: { database: string; share: string; downtimeFrom: string; downtimeTo: string };
  compress: 'zstd' | 'gzip' | 'none';
  base: string | null;
  site: {
    name: string;
    qlikVersion: string | null;
    nodes: Array<{ name: string; hostname: string; role: string }>;
    database: {
      host: string;
      port: number;
      service: string | null;
      serverVersion: string;
      clientVersion: string;
      superuser: string;
    };
    serviceAccount: string;
    share: ManifestShareFolder[];
  };
  databases: ManifestDatabase[];
  files: ManifestFile[];
  totals: { files: number; bytes: number; reusedFiles: number; reusedBytes: number; writtenBytes: number };
}

export interface VerifyRecord {
  ok: boolean;
  level: 'quick' | 'full' | 'deep';
  at: string;
  problems: string[];
}

/** Read a set's manifest, or null when the set is incomplete; a manifest that is not JSON is a damaged set (exit 4). */
export function readManifest(setDir: string): Manifest | null {
  const f = path.join(setDir, MANIFEST);
  if (!fs.existsSync(f)) return null;
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(f, 'utf8')) as Manifest;
  } catch (e) {
    throw new VerificationError(`${f} is damaged: ${(e as Error).message}`, 'use another set (qsadmin backup list)');
  }
  if (!m || typeof m !== 'object' || !Array.isArray(m.files)) throw new VerificationError(`${f} is damaged: it has no list of files`, 'use another set (qsadmin backup list)');
  return m;
}

/** Write the manifest last, atomically; the set is complete from that moment. */
export function writeManifest(setDir: string, m: Manifest): void {
  if (fs.existsSync(path.join(setDir, MANIFEST))) throw new Error(`refused to write ${path.join(setDir, MANIFEST)} again: a complete set is never changed`);
  // Temp file, fsync, rename, fsync of the folder (as writeFileAtomic does, with a crash point between the two).
  const file = path.join(setDir, MANIFEST);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o400);
  try {
    writeJsonFiles(fd, m);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  faultPoint('backup.manifest:temp-written');
  fs.renameSync(tmp, file);
  fsyncDir(setDir);
  fs.rmSync(path.join(setDir, IN_PROGRESS), { force: true });
}

export function readVerified(setDir: string): VerifyRecord | null {
  const f = path.join(setDir, VERIFIED);
  if (!fs.existsSync(f)) return null;
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8')) as VerifyRecord;
  } catch {
    return null;
  }
}

export function writeVerified(setDir: string, v: VerifyRecord): void {
  writeFileAtomic(path.join(setDir, VERIFIED), JSON.stringify(v, null, 2) + '\n', 0o600);
}

/** Totals over the files of a manifest. */
export function totals(files: ManifestFile[]): Manifest['totals'] {
  let bytes = 0;
  let reusedFiles = 0;
  let reusedBytes = 0;
  for (const f of files) {
    bytes += f.bytes;
    if (f.reused) {
      reusedFiles++;
      reusedBytes += f.bytes;
    }
  }
  return { files: files.length, bytes, reusedFiles, reusedBytes, writtenBytes: bytes - reusedBytes };
}

/**
 * Write a manifest as JSON with its file list one entry per line, a few hundred entries per write: the whole text of
 * a 30,000-file manifest at once was a 10 MB string, its UTF-8 copy and the objects beside them at the run's peak.
 */
function writeJsonFiles(fd: number, m: Manifest): void {
  // JSON.stringify keeps key order: a unique placeholder marks where the entries go.
  const mark = JSON.stringify(`files-${randomBytes(8).toString('hex')}`);
  const head = JSON.stringify({ ...m, files: JSON.parse(mark) as string }, null, 1);
  const at = head.indexOf(mark);
  fs.writeSync(fd, `${head.slice(0, at)}[\n`);
  for (let i = 0; i < m.files.length; i += 500) {
    const chunk = m.files.slice(i, i + 500).map((f, k) => `  ${JSON.stringify(f)}${i + k < m.files.length - 1 ? ',' : ''}\n`).join('');
    fs.writeSync(fd, chunk);
  }
  fs.writeSync(fd, ` ]${head.slice(at + mark.length)}\n`);
}
