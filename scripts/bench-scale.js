#!/usr/bin/env node
// How the cost of backup and restore grows with the site: medium, large and xlarge in one run (these machines are
// shared and noisy: only ratios to baselines measured in the same run, at the same size, mean anything). For each size:
//   (a) the guide's manual procedure done literally: stop services, `pg_dump -b -F t` per database, `cp -r` of the
//       share, start services (its stop and start are also timed alone: the floor of any downtime);
//   (b) a raw copy of the same bytes (`cp -r` of (a)'s share and dumps);
//   (c) `qsadmin backup create`, a first full backup;
//   (d) a nightly backup after a fixed change: 200 MB of apps saved again (the same bytes at every size) and the
//       reloads' new execution-result rows in QSR;
//   (e) a nightly backup after a day's change: another 200 MB of apps plus 5 % of all apps, with their reload rows;
//   (f) `qsadmin restore` of (e)'s set after the next day's change; (g) the same restore with every live share file
//       touched (a full copy); (r) the raw restore of the same set: pg_restore of every archive + `cp -r` of its share,
//       and qsadmin's own database loader alone on the same archives (the floor of a restore that loads every row).
// Wall time, downtime, peak RSS and bytes written of each; the ratios; the growth from medium to xlarge; floors
// measured in the same run where a target depends on them. The result is appended as one JSON line to
// scripts/bench-scale.results.jsonl (--results to change), so that a regression shows against earlier runs.
//
// Usage: npm run build && node scripts/bench-scale.js [--sizes medium,large,xlarge] [--dir /var/tmp/qsadmin-bench-scale]
//        [--results FILE] [--address 127.0.0.244] [--port-offset 45000] [--changed-mb 200]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const sizes = arg('sizes', 'medium,large,xlarge').split(',');
const work = path.resolve(arg('dir', '/var/tmp/qsadmin-bench-scale'));
const resultsFile = path.resolve(arg('results', path.join(root, 'scripts', 'bench-scale.results.jsonl')));
const address = arg('address', '127.0.0.244'); // not bench-backup's .230: both may run on one machine
const portOffset = Number(arg('port-offset', '45000'));
const changedBytes = Number(arg('changed-mb', '200')) * 1024 * 1024;
const PASSWORD = 'benchmark-pfx-password';

const { createEmulatedSite, destroySite, startSite, stopSite } = await dist('src/emulator/site.js');
const { SIZE_PROFILES } = await dist('src/emulator/db/generate.js');
const { writeRandomFile } = await dist('src/emulator/db/share-files.js');
const { Prng } = await dist('src/emulator/db/prng.js');
const { findPgBinDir } = await dist('src/postgres/bin.js');
const { withClient } = await dist('src/postgres/client.js');
const { listTreeYielding } = await dist('src/backup/tree.js');
const { archivesOf, loadArchives } = await dist('src/backup/db-load.js');

const sec = (ms) => (ms / 1000).toFixed(2);
const gb = (b) => (b / 1e9).toFixed(2);
const step = (m) => process.stderr.write(`  ${new Date().toISOString().slice(11, 19)} ${m}\n`);
// Every phase starts with the page cache's dirty data written out: no phase pays for the previous one's writes.
// And no phase pays for an earlier phase's deletions. On an ext4 without a journal (this machine's), for 60 s after
// a file is deleted (6 minutes while its inode table block is dirty), creating a file scans past its inode
// (find_inode_bit -> recently_deleted): copying the xlarge share's 28,000 small files took 5.6 s after that window
// and 9.4 s right after a delete. So a phase that creates many files waits out the window of the last deletion
// that freed many inodes (markDeleted), the raw copies as qsadmin's runs.
let deletedAt = 0;
const markDeleted = () => (deletedAt = Date.now());
const settle = () => {
  execFileSync('sync');
  const wait = deletedAt + 62_000 - Date.now();
  if (wait > 0) {
    step(`waiting ${sec(wait)} s for the last deletion's inodes to age (see settle)`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
  }
};

/** Run a command under GNU time: wall ms, peak RSS (KiB, the largest process of its tree), blocks written (bytes). */
function timed(cmd, args, env = {}) {
  const t0 = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %O', cmd, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Date.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stdout.slice(-1500)} ${r.stderr.slice(-1500)}`);
  const [rss, out] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, rssKiB: rss, writtenBytes: out * 512, stdout: r.stdout };
}

function fresh(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const du = (dir) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
const freeBytes = (dir) => {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
};

/** What one size needs on disk at its peak: the site, (a)'s and (b)'s copies side by side, then the sets and a floor copy. */
function neededBytes(size) {
  const p = SIZE_PROFILES[size];
  const share = p.appBytes + p.staticFiles * 30_000 + p.archivedLogsPerNode * p.logBytes;
  const qsr = p.executionResults * p.detailsPerResult * 600;
  return Math.ceil(3.5 * share + 6 * qsr + 2e9);
}

/** Apps saved again: first whole apps up to `fixed` bytes (none bigger than it), then `fraction` of all apps. */
async function saveApps(appsDir, fixed, fraction, seed) {
  const names = fs.readdirSync(appsDir).filter((n) => fs.statSync(path.join(appsDir, n)).isFile()).sort();
  const prng = new Prng(`bench-scale-${seed}`);
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(prng.float() * (i + 1));
    [names[i], names[j]] = [names[j], names[i]];
  }
  const chosen = [];
  let bytes = 0;
  let k = 0;
  for (; k < names.length && bytes < fixed; k++) {
    const size = fs.statSync(path.join(appsDir, names[k])).size;
    if (size > fixed) continue;
    chosen.push(names[k]);
    bytes += size;
  }
  for (const n of names.slice(k).filter((n) => !chosen.includes(n)).slice(0, Math.round(fraction * names.length))) chosen.push(n);
  let written = 0;
  for (const n of chosen) {
    const file = path.join(appsDir, n);
    const size = fs.statSync(file).size;
    await writeRandomFile(file, size, `bench-scale-${seed}-${n}`);
    written += size;
  }
  return { apps: chosen, bytes: written };
}

/** What a reload does to QSR: the app's row changes, and one execution result with its detail rows is added. */
async function reloadRows(db, apps, detailsPerResult) {
  await withClient({ ...db, database: 'QSR' }, async (c) => {
    await c.query(`UPDATE "Apps" SET "ModifiedDate" = now(), "LastReloadTime" = now() WHERE "ID" = ANY($1::uuid[])`, [apps]);
    await c.query(
      `WITH r AS (
         INSERT INTO "ExecutionResults" ("ID","ModifiedByUserName","ExecutionID","AppID","TaskID","Status","StartTime","StopTime",
                                         "Duration","ScriptLogLocation","ScriptLogSize","ExecutingNodeName")
         SELECT gen_random_uuid(), 'INTERNAL\\sa_scheduler', gen_random_uuid(), a, (SELECT t."ID" FROM "ReloadTasks" t WHERE t."AppID" = a LIMIT 1),
                7, now() - interval '5 minutes', now(), 300000, 'Script Logs\\' || md5(a::text || clock_timestamp()::text) || '.log', 120000,
                (SELECT "HostName" FROM "ServerNodeConfigurations" ORDER BY "IsCentral" DESC LIMIT 1)
           FROM unnest($1::uuid[]) a RETURNING "ID"),
       d AS (SELECT r."ID" AS rid, gen_random_uuid() AS did, k FROM r, generate_series(1, ${detailsPerResult}) k),
       dd AS (INSERT INTO "ExecutionResultDetails" ("ID","ModifiedByUserName","DetailsType","Message","DetailCreatedDate")
              SELECT did, 'INTERNAL\\sa_scheduler', k % 4, 'Reload line ' || k || ' ' || md5(did::text) || ' ' || repeat(md5(rid::text) || ' ', 4), now() FROM d)
       INSERT INTO "ExecutionResultDetailExecutionResults" ("ID","ModifiedByUserName","ExecutionResultDetailID","ExecutionResultID")
       SELECT gen_random_uuid(), 'INTERNAL\\sa_scheduler', did, rid FROM d`,
      [apps],
    );
  });
}

/** One size, all phases; returns its rows and floors. The site and every output are removed before it returns. */
async function benchSize(size, k) {
  const dir = path.join(work, size);
  const siteDir = path.join(dir, 'site');
  await destroySite(siteDir).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const need = neededBytes(size);
  const free = freeBytes(dir);
  if (free < need) throw new Error(`${size}: about ${gb(need)} GB of free space needed at ${dir}, ${gb(free)} GB free: free space or choose another --dir`);
  let t = Date.now();
  const created = await createEmulatedSite({ dir: siteDir, size, portOffset: portOffset + 100 * k, baseAddress: address, startServices: true, layout: 'installer' });
  const generateMs = Date.now() - t;
  const site = created.site;
  try {
    const bin = await findPgBinDir({ hint: site.database.binDir });
    const pgEnv = { PGPASSWORD: created.superuserPassword };
    const db = site.database;
    const conn = { host: db.host, port: db.port, user: 'postgres', password: created.superuserPassword };
    const pg = ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w'];
    const dbs = ['QSR', 'SenseServices', 'QSMQ', 'Licenses'];
    const shareBytes = du(site.shareRoot);
    const shareFiles = Number(execFileSync('sh', ['-c', `find '${site.shareRoot}' -type f | wc -l`], { encoding: 'utf8' }).trim());
    const qsrBytes = await withClient({ ...conn, database: 'QSR' }, async (c) => Number((await c.query(`SELECT pg_database_size('QSR') AS n`)).rows[0].n));
    console.log(`\n== ${size}: generated in ${sec(generateMs)} s; share ${gb(shareBytes)} GB in ${shareFiles} files; QSR ${(qsrBytes / 1e6).toFixed(0)} MB`);
    execFileSync('sh', ['-c', `tar -cf - -C '${site.shareRoot}' . | cat > /dev/null`]);
    step('cache warm');

    // (a) the manual procedure
    const manualDir = fresh(path.join(dir, 'manual'));
    settle();
    t = Date.now();
    await stopSite(site, { database: false });
    const stopMs = Date.now() - t;
    let rss = 0;
    for (const name of dbs) {
      const r = timed(path.join(bin.dir, 'pg_dump'), [...pg, '-b', '-F', 't', '-f', path.join(manualDir, `${name}_backup.tar`), name], pgEnv);
      rss = Math.max(rss, r.rssKiB);
    }
    const cp = timed('cp', ['-r', site.shareRoot, path.join(manualDir, 'share')]);
    const t1 = Date.now();
    await startSite(site);
    const startMs = Date.now() - t1;
    const manualMs = Date.now() - t;
    const manualBytes = du(manualDir);
    const manual = { name: '(a) manual: stop, pg_dump -F t x4, cp -r, start', ms: manualMs, downMs: manualMs, rssKiB: Math.max(rss, cp.rssKiB), writtenBytes: manualBytes };
    step(`manual done (stop ${sec(stopMs)} s, start ${sec(startMs)} s)`);

    // (b) raw copy of the same bytes
    const rawDir = fresh(path.join(dir, 'raw'));
    settle();
    t = Date.now();
    const raw1 = timed('cp', ['-r', path.join(manualDir, 'share'), path.join(rawDir, 'share')]);
    const raw2 = timed('sh', ['-c', `cp ${manualDir}/*_backup.tar ${rawDir}/`]);
    const raw = { name: '(b) raw copy of the same bytes', ms: Date.now() - t, downMs: 0, rssKiB: Math.max(raw1.rssKiB, raw2.rssKiB), writtenBytes: manualBytes };
    // What a backup does beyond a raw copy, each timed alone: writing the copy out to disk (a backup fsyncs its files
    // before its manifest; cp leaves them in the page cache), and one sha256 of every share file (2 processes, with
    // OpenSSL as qsadmin's hashes are: coreutils' sha256sum is about 4 times slower where the CPU has SHA extensions).
    const rawSync = timed('sync', []);
    const hashShare = timed('sh', ['-c', `find '${path.join(rawDir, 'share')}' -type f -print0 | xargs -0 -P 2 -n 256 openssl dgst -sha256 > /dev/null`]);
    fs.rmSync(rawDir, { recursive: true, force: true });
    fs.rmSync(manualDir, { recursive: true, force: true });
    markDeleted();
    step('raw done');

    // (c)-(e) qsadmin backups
    const target = fresh(path.join(dir, 'backups'));
    const stateDir = fresh(path.join(dir, 'state'));
    const env = { QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: PASSWORD, QSADMIN_RENDERER: 'silent' };
    const cli = (args, label) => {
      settle();
      // bin/run.js run as the installed `qsadmin` is (its shebang's node flags included), with the memory sampler.
      const memDir = fresh(path.join(dir, 'memory'));
      const r = timed(path.join(root, 'bin', 'run.js'), [...args, '--site', created.siteFile, '--json'], { ...env, QSADMIN_BENCH_MEMORY_DIR: memDir, NODE_OPTIONS: `--import=${path.join(root, 'scripts', 'bench-memory-sampler.mjs')}` });
      const mem = fs.readdirSync(memDir).map((f) => JSON.parse(fs.readFileSync(path.join(memDir, f), 'utf8')));
      r.memory = mem.length === 1 ? mem[0] : null;
      const j = JSON.parse(r.stdout);
      if (j.status !== 'succeeded') throw new Error(`${label}: ${JSON.stringify(j.error)}`);
      const slow = j.steps.filter((x) => x.durationMs !== undefined).sort((a, b) => b.durationMs - a.durationMs).slice(0, 6);
      console.log(`${label}: ${sec(r.ms)} s; RSS ${(r.rssKiB / 1024).toFixed(0)} MB (qsadmin ${r.memory ? `${r.memory.peakRssMB ?? r.memory.rssMB} MB, JS heap ${r.memory.heapUsedMB} of ${r.memory.heapTotalMB} MB` : '-'}); slowest steps ${slow.map((x) => `${x.id} ${sec(x.durationMs)}s`).join(', ')}`);
      return { r, j };
    };
    const backup = (label) => {
      const { r, j } = cli(['backup', 'create', '--to', target, '--no-logs'], label);
      const b = j.outputs.backup;
      const m = JSON.parse(fs.readFileSync(path.join(b.dir, 'manifest.json'), 'utf8'));
      const reusedDbs = m.files.filter((f) => f.kind === 'db' && f.reused).map((f) => f.table ? `${f.database}.${f.table.name}` : f.database);
      if (reusedDbs.length) console.log(`  archives linked: ${reusedDbs.join(', ')}`);
      const appended = m.files.filter((f) => f.append && f.append.after !== null && !f.reused);
      if (appended.length) console.log(`  appended rows dumped: ${appended.map((f) => `${f.table.name} ${f.append.rows} rows (${(f.bytes / 1e6).toFixed(2)} MB)`).join(', ')}`);
      return { name: label, ms: r.ms, downMs: b.downtimeMs, rssKiB: r.rssKiB, memory: r.memory, writtenBytes: b.bytes - b.reusedBytes, reusedFiles: b.reusedFiles, files: b.files, dir: b.dir };
    };
    const full = backup('(c) qsadmin backup create (full)');
    const detailsPerResult = SIZE_PROFILES[size].detailsPerResult;
    const appsDir = path.join(site.shareRoot, 'Apps');
    const fixedChange = await saveApps(appsDir, changedBytes, 0, 1);
    await reloadRows(conn, fixedChange.apps, detailsPerResult);
    const fixedNight = backup(`(d) nightly: ${fixedChange.apps.length} apps, ${(fixedChange.bytes / 1e6).toFixed(0)} MB changed`);
    fixedNight.changedBytes = fixedChange.bytes;
    const day = await saveApps(appsDir, changedBytes, 0.05, 2);
    await reloadRows(conn, day.apps, detailsPerResult);
    const nightly = backup(`(e) nightly: a day, ${day.apps.length} apps (200 MB + 5 %), ${(day.bytes / 1e6).toFixed(0)} MB changed`);
    nightly.changedBytes = day.bytes;

    // Floors of a nightly run, in this run: copying the changed app bytes, and dumping the tables that reloads append to.
    const floorDir = fresh(path.join(dir, 'floor'));
    settle();
    const cpChanged = timed('sh', ['-c', `cd '${appsDir}' && cp ${day.apps.map((a) => `'${a}'`).join(' ')} '${floorDir}/'`]);
    const dumpResults = timed('sh', ['-c', `'${path.join(bin.dir, 'pg_dump')}' ${pg.join(' ')} -Fc -Z0 --data-only -t 'public."ExecutionResult"*' QSR | zstd -1 -T0 -q -c > '${floorDir}/results.dump.zst'`], pgEnv);
    fs.rmSync(floorDir, { recursive: true, force: true });
    // The part of the capture that must look at every file while services are down: one listing (readdir + stat) of the share.
    t = Date.now();
    const listed = (await listTreeYielding(site.shareRoot)).length;
    const listShareMs = Date.now() - t;
    // What every set pays per file, changed or not (each set holds every file, unchanged ones as hard links): one link
    // per file of the share, `cp -al`.
    const linkDir = path.join(dir, 'links');
    const linkAll = timed('cp', ['-al', site.shareRoot, linkDir]);
    fs.rmSync(linkDir, { recursive: true, force: true });

    // (f) restore after the next day's changes, (g) a full-copy restore, (r) the raw restore
    const next = await saveApps(appsDir, changedBytes, 0.05, 3);
    await reloadRows(conn, next.apps, detailsPerResult);
    const restore = (label) => {
      cli(['services', 'stop'], `${label}: services stop`);
      const { r } = cli(['restore', nightly.dir, '--yes'], label);
      return { name: label, ms: r.ms, downMs: r.ms, rssKiB: r.rssKiB, memory: r.memory, writtenBytes: r.writtenBytes };
    };
    const restoreDay = restore('(f) qsadmin restore after a day');
    const now = new Date();
    execFileSync('find', [site.shareRoot, '-type', 'f', '-exec', 'touch', '-d', now.toISOString(), '{}', '+']);
    const restoreFull = restore('(g) qsadmin restore, every share file touched (full copy)');
    markDeleted(); // the restore removed the share it replaced once verified
    const m = JSON.parse(fs.readFileSync(path.join(nightly.dir, 'manifest.json'), 'utf8'));
    const restoreCmd = (f, name, extra) => {
      const file = path.join(nightly.dir, f.path);
      if (f.append && f.append.after !== null) {
        // An appended part of an append-only table (COPY text): psql loads it, as README's "Append-only tables" says.
        const copy = `COPY "${f.table.schema}"."${f.table.name}" (${f.append.columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`;
        return `zstd -dc '${file}' | '${path.join(bin.dir, 'psql')}' ${pg.join(' ')} -X -q -v ON_ERROR_STOP=1 -d ${name} -c '${copy}'`;
      }
      const tool = `'${path.join(bin.dir, 'pg_restore')}' ${pg.join(' ')} -d ${name} ${extra}`;
      return f.compression === 'zstd' ? `zstd -dc '${file}' | ${tool}` : `${tool} '${file}'`;
    };
    settle();
    t = Date.now();
    for (const dbName of dbs) {
      const name = `floor_${dbName}`;
      execFileSync(path.join(bin.dir, 'createdb'), [...pg, '-T', 'template0', name], { env: { ...process.env, ...pgEnv } });
      const main = m.files.find((f) => f.kind === 'db' && f.database === dbName && !f.table);
      const tables = m.files.filter((f) => f.kind === 'db' && f.database === dbName && f.table);
      const cmds = tables.length
        ? [restoreCmd(main, name, '--section=pre-data'), restoreCmd(main, name, '--section=data'), ...tables.map((x) => restoreCmd(x, name, '')), restoreCmd(main, name, '--section=post-data')]
        : [restoreCmd(main, name, '')];
      for (const c of cmds) execFileSync('sh', ['-c', c], { env: { ...process.env, ...pgEnv } });
    }
    // The load alone is the floor of any restore that loads every row (a logical restore into a new database).
    const rawLoadMs = Date.now() - t;
    execFileSync('cp', ['-r', path.join(nightly.dir, 'files', 'share'), path.join(dir, 'share-copy')]);
    const rawRestore = { name: '(r) raw restore: pg_restore of every archive + cp -r', ms: Date.now() - t, downMs: Date.now() - t, rssKiB: 0, writtenBytes: 0 };
    for (const dbName of dbs) execFileSync(path.join(bin.dir, 'dropdb'), [...pg, `floor_${dbName}`], { env: { ...process.env, ...pgEnv } });
    fs.rmSync(path.join(dir, 'share-copy'), { recursive: true, force: true });
    // qsadmin's own loader alone, every database at once as a restore loads them: the floor of any restore that loads
    // every row into new databases (restore after a day reads few share files, so this is most of what it costs).
    settle();
    for (const dbName of dbs) execFileSync(path.join(bin.dir, 'createdb'), [...pg, '-T', 'template0', `floorq_${dbName}`], { env: { ...process.env, ...pgEnv } });
    t = Date.now();
    const tool = { binDir: bin.dir, password: created.superuserPassword };
    await Promise.all(dbs.map((dbName) => loadArchives(tool, { host: db.host, port: db.port, user: 'postgres' }, `floorq_${dbName}`, archivesOf(nightly.dir, m, dbName))));
    const qsadminLoadMs = Date.now() - t;
    for (const dbName of dbs) execFileSync(path.join(bin.dir, 'dropdb'), [...pg, `floorq_${dbName}`], { env: { ...process.env, ...pgEnv } });

    const rows = [manual, raw, full, fixedNight, nightly, restoreDay, restoreFull, rawRestore].map(({ dir: _d, ...r }) => r);
    console.log(`\n${'run'.padEnd(66)} ${'wall s'.padStart(7)} ${'down s'.padStart(7)} ${'RSS MB'.padStart(7)} ${'writ. GB'.padStart(8)}`);
    for (const r of rows) console.log(`${r.name.padEnd(66)} ${sec(r.ms).padStart(7)} ${sec(r.downMs).padStart(7)} ${(r.rssKiB / 1024).toFixed(0).padStart(7)} ${gb(r.writtenBytes).padStart(8)}`);
    const ratios = {
      fullPerRaw: full.ms / raw.ms,
      fullPerRawSynced: full.ms / (raw.ms + rawSync.ms),
      nightlyPerManual: nightly.ms / manual.ms,
      nightlyDownPerManualDown: nightly.downMs / manual.downMs,
      restoreDayPerRaw: restoreDay.ms / rawRestore.ms,
      restoreFullPerRaw: restoreFull.ms / rawRestore.ms,
    };
    const floors = { stopMs, startMs, serviceCycleMs: stopMs + startMs, listShareMs, listedFiles: listed, copyChangedAppsMs: cpChanged.ms, dumpExecutionResultsMs: dumpResults.ms, rawSyncMs: rawSync.ms, hashShareMs: hashShare.ms, rawLoadMs, qsadminLoadMs, linkShareMs: linkAll.ms };
    console.log(`ratios: full/raw ${ratios.fullPerRaw.toFixed(2)} (<= 0.8; full/(raw + its sync) ${ratios.fullPerRawSynced.toFixed(2)}), nightly/manual ${ratios.nightlyPerManual.toFixed(3)} (<= 0.1), restore after a day/raw ${ratios.restoreDayPerRaw.toFixed(2)} (<= 0.5), full-copy restore/raw ${ratios.restoreFullPerRaw.toFixed(2)} (<= 0.9)`);
    console.log(`floors: services stop ${sec(stopMs)} s + start ${sec(startMs)} s; listing the share (${listed} files) ${sec(listShareMs)} s; hard-linking it (cp -al) ${sec(linkAll.ms)} s; cp of the day's changed apps ${sec(cpChanged.ms)} s; pg_dump | zstd of the execution-result tables ${sec(dumpResults.ms)} s; sync after the raw copy ${sec(rawSync.ms)} s; sha256 of the share ${sec(hashShare.ms)} s; the raw restore's database loads ${sec(rawLoadMs)} s (${(rawLoadMs / rawRestore.ms).toFixed(2)} of it); qsadmin's loads alone ${sec(qsadminLoadMs)} s (${(qsadminLoadMs / rawRestore.ms).toFixed(2)} of the raw restore)`);
    const result = { size, generateMs, shareBytes, shareFiles, qsrBytes, rows, ratios, floors, nightlyReusedFiles: nightly.reusedFiles, nightlyFiles: nightly.files };
    console.log(`result ${size}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await destroySite(siteDir).catch((e) => console.error(`cleanup of ${siteDir}: ${e.message}`));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

fs.mkdirSync(work, { recursive: true });
fs.chmodSync(work, 0o755);
const results = [];
for (const [k, size] of sizes.entries()) results.push(await benchSize(size, k));

// Growth from the smallest size to the biggest, and the targets that compare sizes.
const by = Object.fromEntries(results.map((r) => [r.size, r]));
const row = (r, p) => r.rows.find((x) => x.name.startsWith(p));
const first = results[0];
const last = results.at(-1);
console.log(`\n== growth ${first.size} -> ${last.size} (share x${(last.shareBytes / first.shareBytes).toFixed(1)}, files x${(last.shareFiles / first.shareFiles).toFixed(1)}, QSR x${(last.qsrBytes / first.qsrBytes).toFixed(1)})`);
for (const p of ['(a)', '(b)', '(c)', '(d)', '(e)', '(f)', '(g)', '(r)']) {
  const a = row(first, p);
  const b = row(last, p);
  console.log(`  ${b.name.slice(0, 40).padEnd(40)} wall x${(b.ms / a.ms).toFixed(2)}  down x${a.downMs ? (b.downMs / a.downMs).toFixed(2) : '-'}  RSS ${(a.rssKiB / 1024).toFixed(0)} -> ${(b.rssKiB / 1024).toFixed(0)} MB`);
}
const targets = {
  nightlyDownXlargePerMedium: by.xlarge && by.medium ? row(by.xlarge, '(e)').downMs / row(by.medium, '(e)').downMs : null,
  fixedNightlyXlargePerLarge: by.xlarge && by.large ? row(by.xlarge, '(d)').ms / row(by.large, '(d)').ms : null,
  peakRssMB: Math.max(...results.flatMap((r) => r.rows.filter((x) => /^\((c|d|e|f|g)\)/.test(x.name)).map((x) => x.rssKiB / 1024))),
};
console.log(`targets: nightly downtime xlarge/medium ${targets.nightlyDownXlargePerMedium?.toFixed(2) ?? '-'} (<= 1.3); nightly (d) xlarge/large ${targets.fixedNightlyXlargePerLarge?.toFixed(2) ?? '-'} (<= 1.5); peak RSS of qsadmin ${targets.peakRssMB.toFixed(0)} MB (< 200)`);
const line = { bench: 'scale', at: new Date().toISOString(), commit: spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(), cores: (await import('node:os')).cpus().length, load: (await import('node:os')).loadavg(), sizes: results, targets };
fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
fs.appendFileSync(resultsFile, JSON.stringify(line) + '\n');
console.log(`appended to ${resultsFile}`);
fs.rmSync(work, { recursive: true, force: true });
