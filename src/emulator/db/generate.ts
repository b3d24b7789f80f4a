// Filling an emulated site with data of a chosen size: app files on the share with their Apps rows, static
// content, archived and local logs, and bulk QSR rows (users, rules, tasks, execution results). Deterministic
// for a seed. Files and QSR rows are made at the same time (Node writes files while the server inserts rows).
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ident, withClient, type PgConn } from '../../postgres/client.js';
import { Prng } from './prng.js';
import { bulkSql, genId, insertApps, insertStaticRefs, type AppRow, type QsrVolume, type StaticRef } from './qsr-data.js';
import { inPool, writeLogFile, writeRandomFile, writeStaticFile, type PlannedFile } from './share-files.js';
import { inTransaction, runAll, withIndexesDeferred } from './sql.js';

export type SiteSize = 'tiny' | 'small' | 'medium' | 'large' | 'xlarge';

export interface SizeProfile extends QsrVolume {
  apps: number;
  appBytes: number;
  staticFiles: number;
  archivedLogsPerNode: number;
  logBytes: number;
  localLogsPerService: number;
  /** A few very large apps that take this many bytes of appBytes between them (the rest spread as usual). */
  bigApps?: { count: number; bytes: number };
}

const MB = 1024 * 1024;

/**
 * The sizes: tiny for unit tests (< 3 s), small a few seconds, medium ~200 MB share, large >= 2 GB of apps and >= 300 MB
 * QSR, xlarge ~10 GB share in ~30,000 files (4 apps of 0.5-1 GB, 2,000 apps of a few MB, 20,000 static files, 8,000
 * archived logs) and ~1.5 GB QSR, most of it the execution-result tables (a site with years of reload history).
 */
export const SIZE_PROFILES: Readonly<Record<SiteSize, SizeProfile>> = {
  tiny: { apps: 6, appBytes: 3 * MB, staticFiles: 60, archivedLogsPerNode: 10, logBytes: 8 * 1024, localLogsPerService: 1,
    users: 25, streams: 3, customRules: 10, tags: 5, appObjectsPerApp: 5, executionResults: 60, detailsPerResult: 4 },
  small: { apps: 20, appBytes: 40 * MB, staticFiles: 500, archivedLogsPerNode: 60, logBytes: 24 * 1024, localLogsPerService: 2,
    users: 500, streams: 8, customRules: 150, tags: 30, appObjectsPerApp: 20, executionResults: 4000, detailsPerResult: 6 },
  medium: { apps: 50, appBytes: 180 * MB, staticFiles: 2000, archivedLogsPerNode: 200, logBytes: 40 * 1024, localLogsPerService: 3,
    users: 3000, streams: 20, customRules: 600, tags: 80, appObjectsPerApp: 40, executionResults: 20000, detailsPerResult: 8 },
  large: { apps: 150, appBytes: 2304 * MB, staticFiles: 6000, archivedLogsPerNode: 600, logBytes: 48 * 1024, localLogsPerService: 4,
    users: 20000, streams: 60, customRules: 3000, tags: 300, appObjectsPerApp: 60, executionResults: 80000, detailsPerResult: 8 },
  xlarge: { apps: 2000, appBytes: 9216 * MB, bigApps: { count: 4, bytes: 3072 * MB }, staticFiles: 20000, archivedLogsPerNode: 8000,
    logBytes: 64 * 1024, localLogsPerService: 4,
    users: 40000, streams: 120, customRules: 4000, tags: 500, appObjectsPerApp: 40, executionResults: 300000, detailsPerResult: 8 },
};

export interface ShareDirs {
  apps: string;
  staticContent: string;
  archivedLogs: string;
}

export type GeneratePhase = 'apps' | 'static' | 'logs' | 'qsr';

export interface GenerateOptions {
  /** Superuser (or QSR owner) connection; the QSR database is used. */
  db: PgConn;
  shareDirs: ShareDirs;
  /** Each node's local log folder (%ProgramData%\Qlik\Sense\Log), in the order of the site's nodes. */
  nodeLogDirs?: string[];
  size: SiteSize;
  seed?: number;
  onProgress?: (e: { phase: GeneratePhase; done: number; total: number }) => void;
}

export interface GenerateResult {
  apps: number;
  appBytes: number;
  staticFiles: number;
  staticBytes: number;
  logFiles: number;
  logBytes: number;
  /** pg_database_size of QSR after generation. */
  qsrBytes: number;
  elapsedMs: number;
  phaseMs: Record<GeneratePhase, number>;
}

// App files: IDs as the QSR rows will have them, sizes spread unevenly (a few big apps, many small) summing to the total.
// With bigApps, the first `count` apps share its bytes (between 0.5 and 1.5 times an equal part each), the rest the remainder.
export function planApps(seed: number, p: SizeProfile): AppRow[] {
  const prng = new Prng(`${seed}-app-sizes`);
  const big = p.bigApps && p.bigApps.count < p.apps ? p.bigApps : { count: 0, bytes: 0 };
  const spread = (n: number, total: number, weight: () => number) => {
    const weights = Array.from({ length: n }, weight);
    const sum = weights.reduce((a, b) => a + b, 0);
    const out = weights.map((w) => Math.max(16 * 1024, Math.floor((total * w) / sum)));
    if (out.length) out[0] += Math.max(0, total - out.reduce((a, b) => a + b, 0));
    return out;
  };
  const sizes = [...spread(big.count, big.bytes, () => 0.5 + prng.float()), ...spread(p.apps - big.count, p.appBytes - big.bytes, () => Math.exp(3 * prng.float()))];
  return sizes.map((size, i) => ({ id: genId(seed, 'app', i + 1), name: `App ${i + 1} - ${prng.pick(['Sales', 'Finance', 'HR', 'Ops', 'Supply'])} dashboard`, size }));
}

// Static content: content library images, extension bundles and app content, with the QSR reference of each.
export function planStatic(seed: number, p: SizeProfile, root: string, apps: AppRow[]): Array<PlannedFile & { ref: StaticRef }> {
  const prng = new Prng(`${seed}-static`);
  const out: Array<PlannedFile & { ref: StaticRef }> = [];
  const extKinds = [['', '.qext'], ['', '.js'], ['', '.css'], ['lib', '.js'], ['images', '.png'], ['', '.json']] as const;
  for (let i = 0; i < p.staticFiles; i++) {
    let rel: string;
    let logical: string;
    let library: string;
    if (i % 5 < 2) {
      rel = path.join('Content', 'Default', `image_${i}.png`);
      logical = `/content/default/image_${i}.png`;
      library = 'Default';
    } else if (i % 5 < 4) {
      const ext = `ext-${Math.floor(i / 25)}`;
      const [sub, suffix] = extKinds[i % extKinds.length];
      const f = [sub, `${ext}_${i}${suffix}`].filter(Boolean).join('/');
      rel = path.join('Extensions', ext, ...f.split('/'));
      logical = `/extensions/${ext}/${f}`;
      library = ext;
    } else {
      const app = apps[i % apps.length];
      rel = path.join('AppContent', app.id, `picture_${i}.png`);
      logical = `/appcontent/${app.id}/picture_${i}.png`;
      library = app.name;
    }
    const size = rel.endsWith('.png') ? prng.int(2_000, 60_000) : prng.int(500, 20_000);
    const file = path.join(root, rel);
    out.push({ file, size, key: `${seed}-static-${i}`, ref: { logicalPath: logical, externalPath: file, size, library } });
  }
  return out;
}

type LogPlan = PlannedFile & { host: string; service: string; start: Date };
const SERVICES = [
  ['Repository', 'System'], ['Repository', 'Audit'], ['Proxy', 'Audit'], ['Engine', 'System'], ['Scheduler', 'System'], ['Printing', 'System'],
] as const;

// Archived logs per node (ArchivedLogs/<node>/<Service>/<Category>/...) and the local logs of each node's Log folder.
export function planLogs(seed: number, p: SizeProfile, archivedRoot: string, hosts: string[], nodeLogDirs: string[]): LogPlan[] {
  const prng = new Prng(`${seed}-logs`);
  const out: LogPlan[] = [];
  const day = 86_400_000;
  const base = Date.UTC(2025, 0, 1);
  hosts.forEach((host, h) => {
    for (let i = 0; i < p.archivedLogsPerNode; i++) {
      const [service, category] = SERVICES[i % SERVICES.length];
      const start = new Date(base + Math.floor(i / SERVICES.length) * day);
      const stamp = start.toISOString().slice(0, 19).replace(/:/g, '.');
      const file = path.join(archivedRoot, host, service, category, `${host}_${category}_${service}_${stamp}.log`);
      out.push({ file, size: prng.int(p.logBytes / 2, p.logBytes * 1.5), key: `${seed}-alog-${h}-${i}`, host, service, start });
    }
  });
  nodeLogDirs.forEach((dir, n) => {
    const host = hosts[n] ?? `node${n + 1}`;
    for (const [service, category] of SERVICES) {
      for (let k = 0; k < p.localLogsPerService; k++) {
        const name = k === 0 ? `${host}_${category}_${service}.txt` : `${host}_${category}_${service}_${k}.log`;
        const file = path.join(dir, service, 'Trace', name);
        out.push({ file, size: prng.int(p.logBytes / 2, p.logBytes * 1.5), key: `${seed}-llog-${n}-${service}-${category}-${k}`, host, service, start: new Date(base + k * day) });
      }
    }
  });
  return out;
}

// Small rows in the other databases (license assignments, queue messages, distribution status), where they exist.
async function otherDatabaseRows(db: PgConn, p: SizeProfile, apps: number): Promise<void> {
  const existing = await withClient({ ...db, database: 'postgres' }, async (c) =>
    (await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname IN ('Licenses','QSMQ','SenseServices')`)).rows.map((r) => r.datname),
  );
  const sql: Record<string, string[]> = {
    Licenses: [
      `INSERT INTO assignments (id, subject, access_type) SELECT md5('assign-' || i)::uuid, 'CORP\\user' || lpad(i::text, 6, '0'),
         (ARRAY['professional','analyzer'])[i % 2 + 1] FROM generate_series(1, ${p.users}) i`,
      `INSERT INTO usage_log (subject, access_type, used_at) SELECT 'CORP\\user' || lpad((i % ${p.users} + 1)::text, 6, '0'),
         'analyzer', now() - (i || ' minutes')::interval FROM generate_series(1, ${p.users * 2}) i`,
    ],
    QSMQ: [
      `INSERT INTO messages (queue_id, payload) SELECT 1 + i % 3, json_build_object('seq', i, 'entity', md5(i::text))
         FROM generate_series(1, ${Math.ceil(p.executionResults / 10)}) i`,
    ],
    SenseServices: [
      `INSERT INTO distribution_status (app_id, state, message) SELECT md5('dist-' || i)::uuid, 'distributed', 'ok'
         FROM generate_series(1, ${apps * 3}) i`,
    ],
  };
  for (const name of existing) await withClient({ ...db, database: name }, (c) => runAll(c, sql[name]));
}

/** The biggest generated tables, loaded without their indexes (none is the target of a foreign key). */
const BULK_TABLES = ['UserAttributes', 'ExecutionResults', 'ExecutionResultDetails', 'ExecutionResultDetailExecutionResults', 'AppObjects'];

// Make the QSR rows: bulk statements around the Apps rows, then static references; returns the QSR size.
async function generateQsr(o: GenerateOptions, seed: number, p: SizeProfile, apps: AppRow[], refs: StaticRef[], hosts: string[]): Promise<number> {
  return withClient({ ...o.db, database: 'QSR' }, async (c) => {
    const sql = bulkSql(seed, p, apps.length, hosts);
    const total = sql.beforeApps.length + sql.afterApps.length + 2;
    let done = 0;
    const step = async (fn: () => Promise<unknown>) => {
      await fn();
      o.onProgress?.({ phase: 'qsr', done: ++done, total });
    };
    try {
      await inTransaction(c, () =>
        withIndexesDeferred(c, BULK_TABLES, async () => {
          for (const s of sql.beforeApps) await step(() => c.query(s));
          await step(() => insertApps(c, seed, p, apps));
          for (const s of sql.afterApps) await step(() => c.query(s));
          await step(() => insertStaticRefs(c, seed, refs));
        }),
      );
    } catch (err) {
      const e = err as { code?: string; detail?: string };
      if (e.code === '23505') {
        throw new Error(`QSR on ${o.db.host}:${o.db.port} already holds generated rows (${e.detail ?? 'duplicate key'}): generate into a freshly seeded site`);
      }
      throw err;
    }
    await otherDatabaseRows(o.db, p, apps.length);
    return Number((await c.query<{ s: string }>(`SELECT pg_database_size('QSR') AS s`)).rows[0].s);
  });
}

// The node hostnames of the site (for archived-log folders), central first; "central" when QSR has none.
async function siteHosts(db: PgConn): Promise<string[]> {
  const rows = await withClient({ ...db, database: 'QSR' }, async (c) =>
    (await c.query<{ HostName: string }>(`SELECT "HostName" FROM "ServerNodeConfigurations" ORDER BY "IsCentral" DESC, "HostName"`)).rows,
  );
  return rows.length ? rows.map((r) => r.HostName) : ['central'];
}

// Write planned files with a bounded number in flight, reporting progress.
async function writeAll<T extends PlannedFile>(items: T[], limit: number, write: (f: T) => Promise<void>, phase: GeneratePhase, o: GenerateOptions): Promise<number> {
  let done = 0;
  await inPool(items, limit, async (f) => {
    await write(f);
    o.onProgress?.({ phase, done: ++done, total: items.length });
  });
  return items.reduce((a, f) => a + f.size, 0);
}

// Generate a site's data of the given size; files and QSR rows are made concurrently.
export async function generateSiteData(o: GenerateOptions): Promise<GenerateResult> {
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const p = SIZE_PROFILES[o.size];
  const phaseMs = { apps: 0, static: 0, logs: 0, qsr: 0 };
  const timed = async <T>(phase: GeneratePhase, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await fn();
    phaseMs[phase] = Math.round(performance.now() - t);
    return out;
  };
  const hosts = await siteHosts(o.db);
  const apps = planApps(seed, p);
  const statics = planStatic(seed, p, o.shareDirs.staticContent, apps);
  const logs = planLogs(seed, p, o.shareDirs.archivedLogs, hosts, o.nodeLogDirs ?? []);
  const qsr = timed('qsr', () => generateQsr(o, seed, p, apps, statics.map((s) => s.ref), hosts));
  let qsrFailed = false;
  qsr.catch(() => (qsrFailed = true)); // awaited below; meanwhile a failure stops the file phases early
  const stopIfQsrFailed = async () => {
    if (qsrFailed) await qsr;
  };
  const appFiles = apps.map((a) => ({ file: path.join(o.shareDirs.apps, a.id), size: a.size, key: `${seed}-appfile-${a.id}` }));
  await mkdir(o.shareDirs.apps, { recursive: true });
  const appBytes = await timed('apps', () => writeAll(appFiles, 2, (f) => writeRandomFile(f.file, f.size, f.key), 'apps', o));
  await stopIfQsrFailed();
  const staticBytes = await timed('static', () => writeAll(statics, 16, writeStaticFile, 'static', o));
  await stopIfQsrFailed();
  const logBytes = await timed('logs', () => writeAll(logs, 16, writeLogFile, 'logs', o));
  const qsrBytes = await qsr;
  return {
    apps: apps.length, appBytes, staticFiles: statics.length, staticBytes, logFiles: logs.length, logBytes, qsrBytes,
    elapsedMs: Math.round(performance.now() - t0), phaseMs,
  };
}

// Rewrite a fraction of the app files with new content of the same size (for incremental-backup benchmarks).
export async function mutateApps(shareAppsDir: string, fraction: number, seed = 1): Promise<{ files: string[]; bytes: number }> {
  const names = [];
  for (const e of (await readdir(shareAppsDir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isFile()) names.push(e.name);
  }
  const prng = new Prng(`${seed}-mutate`);
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(prng.float() * (i + 1));
    [names[i], names[j]] = [names[j], names[i]];
  }
  const count = fraction <= 0 ? 0 : Math.max(1, Math.round(fraction * names.length));
  const chosen = names.slice(0, count).sort();
  let bytes = 0;
  for (const name of chosen) {
    const file = path.join(shareAppsDir, name);
    const { size } = await stat(file);
    await writeRandomFile(file, size, `${seed}-mutated-${name}`);
    bytes += size;
  }
  return { files: chosen, bytes };
}

// Exact row counts of every user table of a database ("Apps", or "schema.table" outside public).
export async function tableRowCounts(cfg: PgConn, db: string): Promise<Record<string, number>> {
  return withClient({ ...cfg, database: db }, async (c) => {
    const tables = await c.query<{ schemaname: string; tablename: string }>(
      `SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY schemaname, tablename`,
    );
    const out: Record<string, number> = {};
    for (const t of tables.rows) {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident(t.schemaname)}.${ident(t.tablename)}`);
      out[t.schemaname === 'public' ? t.tablename : `${t.schemaname}.${t.tablename}`] = Number(r.rows[0].n);
    }
    return out;
  });
}
