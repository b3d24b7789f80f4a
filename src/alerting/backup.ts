// The Alerting part of a backup set (alerting/ in the set), made on the Alerting node the seed's way (l.305-319):
//   alerting/dump/        mongodump --db=qlikalerting --out=<dir> (a folder of BSON files, not --archive: the
//                         seed's own form, restorable by hand with `mongorestore "<folder>"`, and each collection
//                         gets its own checksum in the manifest)
//   alerting/summary.json the collections and their document counts, counted from the dump (restore checks them)
//   alerting/config/default.json, alerting/config/certificates/*  (server_key.pem has no passphrase and default.json
//                         may hold MongoDB's password: all written 0600 in 0700 folders, like the rest of the set)
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../host/types.js';
import { mkdirPrivateSync, writePrivate } from '../host/private-files.js';
import { hashFile } from '../backup/hashcopy.js';
import type { ManifestFile } from '../backup/manifest.js';
import type { SiteConfig } from '../site/model.js';
import { decodeAll } from './bson.js';
import { alertingOf, alertingPaths, ALERTING_DB, readAlertingSettings } from './config.js';
import { runTool } from './tools.js';

export const ALERTING_PART = 'alerting';

export interface AlertingSummary {
  database: string;
  node: string;
  collections: Record<string, number>;
  documents: number;
  mongo: string;
}

interface Ctx {
  setDir: string;
  runDir: string;
  log(line: string): void;
  /** The run's secrets: the MongoDB password read from default.json joins them. */
  redactor: { add(secret: string): void };
}

/** Count the documents of every collection in a mongodump folder of one database (and so prove each .bson reads). */
export function countDump(dbDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of fs.readdirSync(dbDir).filter((x) => x.endsWith('.bson')).sort()) {
    try {
      out[f.slice(0, -5)] = decodeAll(fs.readFileSync(path.join(dbDir, f))).length;
    } catch (e) {
      throw new Error(`${path.join(dbDir, f)} is not a readable BSON dump: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Dump Alerting's database and copy its configuration into <set>/alerting; returns the manifest entries. */
export async function backupAlerting(ctx: Ctx, site: SiteConfig, host: Host): Promise<ManifestFile[]> {
  const a = alertingOf(site);
  const p = alertingPaths(a);
  const settings = await readAlertingSettings(host, p.defaultJson, ctx.redactor);
  const top = path.join(ctx.setDir, 'alerting');
  // A killed attempt may have left a partial dump: start the folder again (nothing of it is in a manifest yet).
  fs.rmSync(top, { recursive: true, force: true });
  mkdirPrivateSync(path.join(top, 'dump'));
  const privateDir = path.join(ctx.runDir, 'private');
  mkdirPrivateSync(privateDir);
  const dumpDir = path.join(top, 'dump');
  const r = await runTool({ host, binDir: p.mongoBinDir, conn: settings.mongo, privateDir }, 'mongodump', [`--db=${ALERTING_DB}`, `--out=${dumpDir}`]);
  for (const line of r.stderr.trim().split('\n').filter((l) => /done dumping/.test(l))) ctx.log(`mongodump: ${line.split('\t').pop()}`);
  const dbDir = path.join(dumpDir, ALERTING_DB);
  if (!fs.existsSync(dbDir)) throw new Error(`mongodump wrote no ${ALERTING_DB} folder into ${dumpDir}: is the database called ${ALERTING_DB} on ${settings.mongo.host}:${settings.mongo.port}?`);
  const collections = countDump(dbDir);
  const summary: AlertingSummary = {
    database: ALERTING_DB,
    node: a.node,
    collections,
    documents: Object.values(collections).reduce((x, y) => x + y, 0),
    mongo: `${settings.mongo.host}:${settings.mongo.port}`,
  };
  await writePrivate(path.join(top, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await writePrivate(path.join(top, 'config', 'default.json'), await host.files.read(p.defaultJson));
  const certFiles: Array<{ rel: string; source: string }> = [];
  for await (const f of host.files.walk(p.certificatesDir)) {
    // The driver names files as the node does (Windows paths under a Windows folder).
    certFiles.push({ rel: path.win32.relative(p.certificatesDir, f.path).split('\\').join('/'), source: f.path });
  }
  for (const c of certFiles) await writePrivate(path.join(top, 'config', 'certificates', ...c.rel.split('/')), await host.files.read(c.source));
  const files: ManifestFile[] = [];
  const add = async (rel: string, kind: ManifestFile['kind'], source?: string) => {
    const full = path.join(ctx.setDir, ...rel.split('/'));
    fs.chmodSync(full, 0o600);
    const w = await hashFile(full);
    files.push({ path: rel, bytes: w.bytes, sha256: w.sha256, kind, node: a.node, ...(source ? { source } : {}) });
  };
  for (const f of fs.readdirSync(dbDir).sort()) await add(`alerting/dump/${ALERTING_DB}/${f}`, 'alerting-db');
  await add('alerting/summary.json', 'alerting-db');
  await add('alerting/config/default.json', 'alerting-config', p.defaultJson);
  for (const c of certFiles) await add(`alerting/config/certificates/${c.rel}`, 'alerting-cert', c.source);
  ctx.log(`alerting: ${summary.documents} documents in ${Object.keys(collections).length} collections (${Object.entries(collections).map(([k, v]) => `${k} ${v}`).join(', ')}); default.json and ${certFiles.length} certificate files`);
  return files;
}

/** Problems of the Alerting part of a set: every .bson of the dump must read as BSON, its counts match summary.json. */
export function alertingSetProblems(setDir: string, files: ManifestFile[]): string[] {
  const dump = files.filter((f) => f.kind === 'alerting-db' && f.path.endsWith('.bson'));
  if (!files.some((f) => f.kind.startsWith('alerting-'))) return [];
  const problems: string[] = [];
  const summaryFile = path.join(setDir, 'alerting', 'summary.json');
  let summary: AlertingSummary | null = null;
  try {
    summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as AlertingSummary;
  } catch {
    problems.push('alerting/summary.json is missing or not JSON');
  }
  for (const f of dump) {
    const coll = path.posix.basename(f.path, '.bson');
    try {
      const n = decodeAll(fs.readFileSync(path.join(setDir, ...f.path.split('/')))).length;
      if (summary && summary.collections[coll] !== n) problems.push(`${f.path}: ${n} documents, alerting/summary.json says ${summary.collections[coll]}`);
    } catch (e) {
      problems.push(`${f.path}: not a readable mongodump file (${(e as Error).message})`);
    }
  }
  if (!files.some((f) => f.kind === 'alerting-config')) problems.push('the Alerting part has no alerting/config/default.json');
  return problems;
}
