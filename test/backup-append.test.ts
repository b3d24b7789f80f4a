// Append-only table archives (src/backup/db-append.ts) on a real site: a nightly backup after reloads stores the base
// set's archive of each execution-result table (linked) plus the added rows only; an updated old row makes the table be
// dumped whole; the incremental set restores the exact tables after its base sets were pruned; verify checks the parts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../src/postgres/client.js';
import type { Manifest, ManifestFile } from '../src/backup/manifest.js';
import { chainOf } from '../src/backup/db-append.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const RESULTS = ['ExecutionResults', 'ExecutionResultDetails', 'ExecutionResultDetailExecutionResults'];
let site: EmulatedSite;
let stateDir: string;
let target: string;
const env = () => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: 'append-test-pfx-password' });
const conn = () => ({ ...site.site.database, user: 'postgres', password: site.superuserPassword, database: 'QSR' });

interface Made { manifest: Manifest; dir: string; log: string }
const sets: Made[] = [];

async function backup(): Promise<Made> {
  const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json', '--no-logs', '--table-archive-min-size', '8192'], { env: env() });
  expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
  const dir = JSON.parse(r.stdout).outputs.backup.dir as string;
  const runs = path.join(stateDir, 'runs');
  const run = newestRun(stateDir, 'backup-create-');
  return { manifest: JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest, dir, log: fs.readFileSync(path.join(runs, run, 'run.log'), 'utf8') };
}

/** A reload's rows, as the scheduler writes them: one execution result per app with its detail rows. */
async function reload(apps: number): Promise<void> {
  await withClient(conn(), (c) =>
    c.query(
      `WITH r AS (INSERT INTO "ExecutionResults" ("ID","ModifiedByUserName","AppID","Status","ScriptLogLocation")
                  SELECT gen_random_uuid(), 'INTERNAL\\sa_scheduler', "ID", 7, 'Script Logs\\' || md5("ID"::text || clock_timestamp()::text) || '.log'
                    FROM (SELECT "ID" FROM "Apps" ORDER BY "ID" LIMIT ${apps}) a RETURNING "ID"),
            d AS (SELECT r."ID" AS rid, gen_random_uuid() AS did, k FROM r, generate_series(1, 6) k),
            dd AS (INSERT INTO "ExecutionResultDetails" ("ID","ModifiedByUserName","DetailsType","Message") SELECT did, 'INTERNAL\\sa_scheduler', k % 4, 'Reload line ' || k || E' with a tab\\there and a\\nnewline' FROM d)
       INSERT INTO "ExecutionResultDetailExecutionResults" ("ID","ModifiedByUserName","ExecutionResultDetailID","ExecutionResultID") SELECT gen_random_uuid(), 'x', did, rid FROM d`,
    ),
  );
}

/** Each execution-result table's row count and a hash of its exact content. */
async function contentOf(): Promise<Record<string, string>> {
  return withClient(conn(), async (c) => {
    const out: Record<string, string> = {};
    for (const t of RESULTS) {
      const r = await c.query<{ n: string; h: string }>(`SELECT count(*) AS n, md5(string_agg(md5(x::text), '' ORDER BY x."ID")) AS h FROM "${t}" x`);
      out[t] = `${r.rows[0].n}:${r.rows[0].h}`;
    }
    return out;
  });
}

/** A table's archives in a set, in chain order (the full part first). */
function parts(m: Manifest, table: string): ManifestFile[] {
  const c = chainOf(m.files.filter((f) => f.database === 'QSR'), { schema: 'public', name: table });
  if ('why' in c) throw new Error(`${table}: ${c.why}`);
  return c.parts;
}
let before: Record<string, string>;

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ layout: 'installer', size: 'tiny', portOffset: 52300, baseAddress: '127.0.0.32', startServices: true });
  sets.push(await backup()); // 0: full
  await reload(4);
  sets.push(await backup()); // 1: base parts linked + the added rows
  await withClient(conn(), async (c) => {
    await c.query(`UPDATE "ExecutionResultDetails" SET "Message" = 'edited' WHERE "ID" = (SELECT min("ID"::text)::uuid FROM "ExecutionResultDetails")`);
    // A row that committed after the base set's capture with a CreatedDate before it (a long transaction).
    await c.query(`INSERT INTO "ExecutionResultDetailExecutionResults" ("ID","CreatedDate","ModifiedByUserName") VALUES (gen_random_uuid(), '2001-01-01', 'late')`);
  });
  await reload(2);
  sets.push(await backup()); // 2: details dumped whole; the other two: a chain of three parts
  before = await contentOf();
}, 180_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('append-only tables', () => {
  it('a full backup stores each execution-result table whole, with its row count and hash', () => {
    for (const t of RESULTS) {
      const p = parts(sets[0].manifest, t);
      expect(p).toHaveLength(1);
      expect(p[0].append).toMatchObject({ column: 'CreatedDate', after: null, hashFn: 'hashtextextended' });
      expect(p[0].append!.rows).toBe(sets[0].manifest.databases.find((d) => d.name === 'QSR')!.rowCounts![`public.${t}`]);
    }
  });

  it('a nightly backup links the base archive and dumps only the rows added since', () => {
    for (const t of RESULTS) {
      const [full, delta, ...more] = parts(sets[1].manifest, t);
      expect(more).toHaveLength(0);
      expect(full.reused).toBe(true);
      expect(full.sha256).toBe(parts(sets[0].manifest, t)[0].sha256);
      expect(delta.reused).toBeFalsy();
      expect(delta.append).toMatchObject({ after: full.append!.upTo, rows: t === 'ExecutionResults' ? 4 : 24 });
      expect(delta.bytes).toBeLessThan(full.bytes / 5);
      expect(fs.statSync(path.join(sets[1].dir, delta.path)).size).toBe(delta.bytes);
    }
    expect(sets[1].log).toMatch(/ExecutionResultDetails: 24 rows added since set .*archives linked, the added rows dumped/);
    // PostgreSQL 15, services stopped at both captures: the counters show only inserts, so the old rows were not hashed
    for (const t of RESULTS) expect(sets[1].log).toMatch(new RegExp(`${t}: PostgreSQL counts ${t === 'ExecutionResults' ? 4 : 24} rows inserted since set \\S+ and nothing else, all past CreatedDate .*: the rows below it were not hashed again`));
  });

  it('an updated old row, or one added late below the mark, makes the table be dumped whole, and says why', () => {
    const details = parts(sets[2].manifest, 'ExecutionResultDetails');
    expect(details).toHaveLength(1);
    expect(details[0].reused).toBeFalsy();
    expect(details[0].append!.after).toBeNull();
    expect(sets[2].log).toMatch(/ExecutionResultDetails dumped whole: the rows at or below CreatedDate .* are not the base set's \(their hash differs\): rows were changed/);
    const late = parts(sets[2].manifest, 'ExecutionResultDetailExecutionResults');
    expect(late.map((f) => [f.reused ?? false, f.append!.after])).toEqual([[false, null]]);
    expect(sets[2].log).toMatch(/ExecutionResultDetailExecutionResults dumped whole: 2\d\d rows at or below CreatedDate .*, the base set has 2\d\d: rows were added late, or deleted/);
    // the late row was an insert only: the counters alone would have allowed the shortcut, the rows past the mark did not
    expect(sets[2].log).toMatch(/ExecutionResultDetailExecutionResults: PostgreSQL counts 13 rows inserted since set \S+, 12 lie past CreatedDate .*: every row is checked/);
    // The tables nobody edited keep their chain: the full part, yesterday's rows, today's.
    expect(parts(sets[2].manifest, 'ExecutionResults').map((f) => f.append!.rows).slice(1)).toEqual([4, 2]);
  });

  it('verify reads every part, and finds a part whose rows do not match its manifest', async () => {
    const ok = await qsadmin(['backup', 'verify', sets[2].dir, '--json'], { env: env() });
    expect(ok.exitCode, ok.stdout + ok.stderr.slice(-1500)).toBe(0);
    // A copy of the set whose manifest claims one more row in an appended part.
    const copy = path.join(tempDir(), 'tampered');
    fs.cpSync(sets[2].dir, copy, { recursive: true });
    const m = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8')) as Manifest;
    const delta = m.files.find((f) => f.append && f.append.after !== null && f.table?.name === 'ExecutionResults')!;
    delta.append!.rows += 1;
    fs.chmodSync(path.join(copy, 'manifest.json'), 0o600);
    fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(m));
    const bad = await qsadmin(['backup', 'verify', copy, '--json'], { env: env() });
    expect(bad.exitCode).toBe(4);
    expect(bad.stdout).toContain(`${delta.path}: it holds ${delta.append!.rows - 1} rows, the manifest says ${delta.append!.rows}`);
    expect(bad.stdout).toMatch(/table public.ExecutionResults: its archives hold \d+ rows, the manifest counts \d+/);
  });

  it('the newest incremental set restores the exact tables after prune removed the sets it was built on', async () => {
    const pr = await qsadmin(['backup', 'prune', '--to', target, '--site', site.siteFile, '--keep-daily', '1', '--keep-weekly', '0', '--keep-monthly', '0', '--json'], { env: env() });
    expect(pr.exitCode, pr.stderr.slice(-1500)).toBe(0);
    for (const s of sets.slice(0, 2)) expect(fs.existsSync(s.dir)).toBe(false);
    expect(parts(sets[2].manifest, 'ExecutionResults').map((f) => f.append!.rows).slice(1)).toEqual([4, 2]);
    // The site changes after the backup; the restore must bring back the tables as they were.
    await reload(3);
    await withClient(conn(), (c) => c.query(`DELETE FROM "ExecutionResults" WHERE "ID" IN (SELECT "ID" FROM "ExecutionResults" LIMIT 20)`));
    expect(await contentOf()).not.toEqual(before);
    const stop = await qsadmin(['services', 'stop', '--site', site.siteFile, '--json'], { env: env() });
    expect(stop.exitCode, stop.stderr.slice(-1500)).toBe(0);
    const r = await qsadmin(['restore', sets[2].dir, '--site', site.siteFile, '--yes', '--json'], { env: env(), timeout: 170_000 });
    expect(r.exitCode, r.stdout.slice(-1500) + r.stderr.slice(-1500)).toBe(0);
    expect(await contentOf()).toEqual(before);
  }, 180_000);
});
