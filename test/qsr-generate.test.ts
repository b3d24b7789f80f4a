// The site data generator at size tiny: files on disk match the returned counts and the QSR rows, the same
// seed gives the same bytes, app data does not compress, and mutateApps rewrites the asked fraction.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../src/postgres/client.js';
import { PgCluster } from '../src/postgres/cluster.js';
import { generateSiteData, mutateApps, planApps, SIZE_PROFILES, tableRowCounts, type GenerateResult, type ShareDirs } from '../src/emulator/db/generate.js';
import { QSR_INDEXES, QSR_TABLES } from '../src/emulator/db/qsr-tables.js';
import { createRepositoryDatabases, seedSite } from '../src/emulator/db/setup.js';

const PORTS: [number, number] = [15432, 15499];
const HOSTS = ['central.corp.example', 'rim1.corp.example'];

let cluster: PgCluster;
let dir: string;
let share: ShareDirs;
let logDirs: string[];
let result: GenerateResult;
let wallMs: number;

// Every file under a folder, recursively, with its size.
async function walk(root: string): Promise<Array<{ file: string; size: number }>> {
  const out: Array<{ file: string; size: number }> = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out.push({ file, size: (await stat(file)).size });
  }
  return out;
}

// sha256 of a file.
async function sha(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

beforeAll(async () => {
  cluster = await PgCluster.scratch({ portRange: PORTS });
  dir = await mkdtemp(path.join(os.tmpdir(), 'qsadmin-gen-'));
  share = { apps: path.join(dir, 'share', 'Apps'), staticContent: path.join(dir, 'share', 'StaticContent'), archivedLogs: path.join(dir, 'share', 'ArchivedLogs') };
  logDirs = HOSTS.map((h) => path.join(dir, h, 'ProgramData', 'Qlik', 'Sense', 'Log'));
  await createRepositoryDatabases(cluster.conn(), { layout: 'manual', repositoryPassword: 'pw' });
  await seedSite(cluster.conn(), {
    nodes: HOSTS.map((hostname, i) => ({ hostname, isCentral: i === 0 })), shareRoot: path.join(dir, 'share'), dbHost: '127.0.0.1', dbPort: cluster.port,
  });
  const t = performance.now();
  result = await generateSiteData({ db: cluster.conn(), shareDirs: share, nodeLogDirs: logDirs, size: 'tiny', seed: 42 });
  wallMs = performance.now() - t;
});
afterAll(async () => {
  await cluster?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('generateSiteData tiny', () => {
  it('takes less than 3 s', () => {
    expect(wallMs).toBeLessThan(3000);
    expect(result.elapsedMs).toBeLessThan(3000);
  });

  it('app files: one per Apps row, named by the app ID with no extension, sizes as recorded', async () => {
    const files = await walk(share.apps);
    expect(files).toHaveLength(result.apps);
    expect(result.apps).toBe(SIZE_PROFILES.tiny.apps);
    expect(files.reduce((a, f) => a + f.size, 0)).toBe(result.appBytes);
    const apps = await withClient(cluster.conn('QSR'), async (c) => (await c.query<{ ID: string; FileSize: string }>(`SELECT "ID", "FileSize" FROM "Apps"`)).rows);
    expect(apps.map((a) => a.ID).sort()).toEqual(files.map((f) => path.basename(f.file)).sort());
    for (const f of files) {
      expect(path.basename(f.file)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(Number(apps.find((a) => a.ID === path.basename(f.file))?.FileSize)).toBe(f.size);
    }
  });

  it('app data is mostly incompressible', async () => {
    const biggest = (await walk(share.apps)).sort((a, b) => b.size - a.size)[0];
    const raw = await readFile(biggest.file);
    expect(gzipSync(raw, { level: 6 }).length / raw.length).toBeGreaterThan(0.9);
  });

  it('static content and logs: counts match the disk and StaticContentReferences', async () => {
    const statics = await walk(share.staticContent);
    expect(statics).toHaveLength(result.staticFiles);
    expect(statics.reduce((a, f) => a + f.size, 0)).toBe(result.staticBytes);
    const refs = await withClient(cluster.conn('QSR'), async (c) => (await c.query<{ ExternalPath: string }>(`SELECT "ExternalPath" FROM "StaticContentReferences"`)).rows);
    expect(refs.map((r) => r.ExternalPath).sort()).toEqual(statics.map((f) => f.file).sort());
    const archived = await walk(share.archivedLogs);
    const local = (await Promise.all(logDirs.map(walk))).flat();
    expect(archived.length + local.length).toBe(result.logFiles);
    expect(new Set(archived.map((f) => path.relative(share.archivedLogs, f.file).split(path.sep)[0]))).toEqual(new Set(HOSTS));
    expect(archived.some((f) => f.file.includes(`${path.sep}Repository${path.sep}System${path.sep}`) && f.file.endsWith('.log'))).toBe(true);
    expect(local.some((f) => f.file.endsWith(`${HOSTS[1]}_System_Repository.txt`))).toBe(true);
  });

  it('QSR rows: row counts per table, and the size reported', async () => {
    const counts = await tableRowCounts(cluster.conn(), 'QSR');
    expect(Object.keys(counts)).toHaveLength(149);
    const p = SIZE_PROFILES.tiny;
    expect(counts.Apps).toBe(result.apps);
    expect(counts.ReloadTasks).toBe(result.apps);
    expect(counts.ExecutionResults).toBe(p.executionResults);
    expect(counts.ExecutionResultDetails).toBe(p.executionResults * p.detailsPerResult);
    expect(counts.ExecutionResultDetailExecutionResults).toBe(p.executionResults * p.detailsPerResult);
    expect(counts.StaticContentReferences).toBe(result.staticFiles);
    expect(counts.ServerNodeConfigurations).toBe(2);
    expect(counts.Users).toBeGreaterThanOrEqual(p.users);
    // the bulk load drops and rebuilds indexes: every primary key and index is back, with its name
    const idx = await withClient(cluster.conn('QSR'), async (c) => (await c.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`)).rows.map((r) => r.indexname));
    expect(idx).toHaveLength(QSR_TABLES.length + QSR_INDEXES.length);
    expect(idx).toEqual(expect.arrayContaining(['ExecutionResultDetails_pkey', 'IX_ExecutionResultDetailExecutionResults_ExecutionResultID']));
    expect(result.qsrBytes).toBeGreaterThan(1_000_000);
    const lic = await tableRowCounts(cluster.conn(), 'Licenses');
    expect(lic.assignments).toBe(p.users);
  });

  it('the same seed plans the same apps; another seed does not', () => {
    expect(planApps(42, SIZE_PROFILES.small)).toEqual(planApps(42, SIZE_PROFILES.small));
    expect(planApps(43, SIZE_PROFILES.small)[0].id).not.toBe(planApps(42, SIZE_PROFILES.small)[0].id);
    expect(planApps(42, SIZE_PROFILES.large).reduce((a, x) => a + x.size, 0)).toBeGreaterThanOrEqual(2 * 1024 ** 3);
  });

  it('refuses to generate into a QSR that already holds generated rows', async () => {
    const again = path.join(dir, 'again');
    await expect(
      generateSiteData({ db: cluster.conn(), shareDirs: { apps: path.join(again, 'Apps'), staticContent: path.join(again, 'S'), archivedLogs: path.join(again, 'L') }, size: 'tiny', seed: 43 }),
    ).rejects.toThrow(/already holds generated rows \(Key \("UserDirectory", "UserId"\)=\(CORP, user000001\) already exists\.\): generate into a freshly seeded site/);
  });

  it('mutateApps rewrites the asked fraction, same sizes, new bytes, deterministically', async () => {
    const before = new Map<string, string>();
    const files = await walk(share.apps);
    for (const f of files) before.set(path.basename(f.file), await sha(f.file));
    const m = await mutateApps(share.apps, 0.5, 9);
    expect(m.files).toHaveLength(Math.round(files.length * 0.5));
    let changed = 0;
    for (const f of await walk(share.apps)) {
      const name = path.basename(f.file);
      expect(f.size).toBe(files.find((x) => path.basename(x.file) === name)?.size);
      if ((await sha(f.file)) !== before.get(name)) changed++;
    }
    expect(changed).toBe(m.files.length);
    const m2 = await mutateApps(share.apps, 0.5, 9);
    expect(m2.files).toEqual(m.files);
  });
});
