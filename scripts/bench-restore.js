#!/usr/bin/env node
// Restore benchmark, in one run on one emulated site:
//   (a) the floor: pg_restore of every dump of the set into fresh databases of the same server (one job each,
//       one after another) plus a plain `cp -r` of the set's share files;
//   (b) `qsadmin restore <set> --yes` onto the same site after 5 % of its apps changed (safety dumps, certificates,
//       swap, share, start, checks): live share files that still hold the backup's bytes are linked, not copied;
//   (c) the same when every live share file was touched since the backup, so the whole share is copied from the set
//       (and the safety dumps of the restored databases cannot link anything from the set);
//   (d) onto a fresh node with another hostname that never started (§5.7): whole share copied, bootstrap mode.
// Prints wall times, the slowest steps and the ratios to (a) (target: at most 1.2).
//
// Usage: npm run build && node scripts/bench-restore.js [--size large] [--dir /var/tmp/qsadmin-bench-restore] [--keep]
//        [--address 127.0.0.240] [--port-offset 46000]
// --keep leaves the site running and the backup set in place (destroy it later with the emulator's destroySite).
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
// large by default: the size the backup benchmark uses; medium and small are quicker and still show the ratio.
const size = arg('size', 'large');
const work = path.resolve(arg('dir', '/var/tmp/qsadmin-bench-restore'));
const keep = process.argv.includes('--keep');
// Another benchmark may hold the defaults on a shared machine: --address and --port-offset move this one's site.
const address = arg('address', '127.0.0.240');
const portOffset = Number(arg('port-offset', '46000'));

const { createEmulatedSite, destroySite } = await dist('src/emulator/site.js');
const { findPgBinDir } = await dist('src/postgres/bin.js');

await destroySite(path.join(work, 'site')).catch(() => undefined);
await destroySite(path.join(work, 'fresh')).catch(() => undefined);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true, mode: 0o755 });
const created = await createEmulatedSite({ dir: path.join(work, 'site'), size, portOffset, baseAddress: address, startServices: true, layout: 'installer' });
const env = { ...process.env, QSADMIN_STATE_DIR: path.join(work, 'state'), QSADMIN_CERT_PASSWORD: 'benchmark-pfx-password', QSADMIN_RENDERER: 'silent' };
const cli = (args, siteFile = created.siteFile) => {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), ...args, '--site', siteFile, '--json'], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`qsadmin ${args.join(' ')} failed (${r.status}): ${r.stdout.slice(-1500)} ${r.stderr.slice(-1500)}`);
  return { ms: Date.now() - t0, json: JSON.parse(r.stdout) };
};
const backup = cli(['backup', 'create', '--to', path.join(work, 'backups'), '--no-logs']).json.outputs.backup.dir;
console.log(`site ${size}; backup ${backup}`);

// (a) the floor
const bin = await findPgBinDir({ hint: created.site.database.binDir });
const db = created.site.database;
const pg = ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w'];
const pgEnv = { ...process.env, PGPASSWORD: created.superuserPassword };
const m = JSON.parse(fs.readFileSync(path.join(backup, 'manifest.json'), 'utf8'));
// Each measured phase starts with nothing left to write back from the one before (the backup just written, the
// floor's copies): otherwise a phase pays for its predecessor's writeback, and which one pays depends on timing.
const settle = () => execFileSync('sync');
const restoreCmd = (f, name, extra) => {
  const file = path.join(backup, f.path);
  const tool = `'${path.join(bin.dir, 'pg_restore')}' ${pg.join(' ')} -d ${name} ${extra}`;
  return f.compression === 'zstd' ? `zstd -dc '${file}' | ${tool}` : `${tool} '${file}'`;
};
const databases = [...new Set(m.files.filter((f) => f.kind === 'db').map((f) => f.database))];
// Measured before the restores and again after them: on a shared machine it moves by several seconds between runs,
// and the ratios are taken against the mean of the two.
const measureFloor = () => {
  settle();
  const t0 = Date.now();
  for (const dbName of databases) {
    const name = `floor_${dbName}`;
    execFileSync(path.join(bin.dir, 'createdb'), [...pg, '-T', 'template0', name], { env: pgEnv });
    const main = m.files.find((f) => f.kind === 'db' && f.database === dbName && !f.table);
    const tables = m.files.filter((f) => f.kind === 'db' && f.database === dbName && f.table);
    // A database with table archives takes pg_restore's three sections (see src/backup/db-load.ts), one job each.
    const cmds = tables.length
      ? [restoreCmd(main, name, '--section=pre-data'), restoreCmd(main, name, '--section=data'), ...tables.map((t) => restoreCmd(t, name, '')), restoreCmd(main, name, '--section=post-data')]
      : [restoreCmd(main, name, '')];
    for (const cmd of cmds) execFileSync('sh', ['-c', cmd], { env: pgEnv });
  }
  execFileSync('cp', ['-r', path.join(backup, 'files', 'share'), path.join(work, 'share-copy')]);
  const ms = Date.now() - t0;
  for (const dbName of databases) execFileSync(path.join(bin.dir, 'dropdb'), [...pg, `floor_${dbName}`], { env: pgEnv });
  fs.rmSync(path.join(work, 'share-copy'), { recursive: true, force: true });
  return ms;
};
const floorFirst = measureFloor();

// (b) qsadmin restore onto the same site after a day's changes: 5 % of the apps saved again, their QSR rows updated
// (the services are stopped first: restore refuses a running site). (c) the same restore when no live share file can
// be kept: every one touched since the backup, so all of them are copied from the set, as onto a fresh node.
const { mutateApps } = await dist('src/emulator/db/generate.js');
const sec = (ms) => (ms / 1000).toFixed(2);
const share = created.site.shareRoot;
const runRestore = (label, siteFile = created.siteFile, extra = []) => {
  cli(['services', 'stop'], siteFile);
  settle();
  const t = Date.now();
  const r = cli(['restore', backup, '--yes', ...extra], siteFile);
  const ms = Date.now() - t;
  // Steps of a parallel group overlap: the journal's start and finish times show what ran beside what.
  const journal = fs.readFileSync(path.join(r.json.runDir, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const runStart = Date.parse(journal.find((e) => e.event === 'run-start').ts);
  const started = new Map(journal.filter((e) => e.event === 'start').map((e) => [e.step, Date.parse(e.ts)]));
  const slow = r.json.steps.filter((x) => x.durationMs !== undefined).sort((a, b) => b.durationMs - a.durationMs).slice(0, 6);
  const staged = Object.entries(r.json.outputs).filter(([k]) => k.startsWith('share.staged.')).map(([, v]) => v);
  const sum = (k) => staged.reduce((n, x) => n + x[k], 0);
  console.log(`${label}: ${sum('linked')} of ${sum('files')} share files linked from the live share, ${(sum('bytes') / 1e6).toFixed(0)} MB copied from the set`);
  console.log('  slowest steps (start after run start, duration):');
  for (const x of slow) console.log(`    ${x.id.padEnd(34)} +${sec(started.get(x.id) - runStart)} s  ${sec(x.durationMs)} s`);
  const runMs = Date.parse(journal.at(-1).ts) - runStart;
  console.log(`  before the runbook (CLI start, reading and checking the set): ${sec(ms - runMs)} s; the runbook: ${sec(runMs)} s`);
  return ms;
};
const changed = await mutateApps(path.join(share, 'Apps'), 0.05, 11);
const ids = changed.files.map((f) => `'${f.replace(/[^0-9a-f-]/g, '')}'`).join(',');
execFileSync(path.join(bin.dir, 'psql'), [...pg, '-d', 'QSR', '-v', 'ON_ERROR_STOP=1', '-c', `UPDATE "Apps" SET "ModifiedDate" = now(), "LastReloadTime" = now() WHERE "ID" IN (${ids})`], { env: pgEnv });
const deltaMs = runRestore(`(b) after ${changed.files.length} app files (5 %) changed`);
const now = new Date();
const touch = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) touch(path.join(dir, e.name));
    else fs.utimesSync(path.join(dir, e.name), now, now);
  }
};
touch(share);
const fullMs = runRestore('(c) every live share file touched');
// (d) onto a fresh node with another hostname that never started its services (the guide's §5.7): its own small
// databases are dumped for safety, the whole share is copied, Repository.exe -bootstrap -restorehostname runs.
const fresh = await createEmulatedSite({ dir: path.join(work, 'fresh'), size: 'tiny', portOffset: portOffset + 500, baseAddress: address.replace(/\d+$/, (n) => String(Number(n) + 1)), hostnames: ['qs-fresh.bench.test'], layout: 'installer' });
const freshMs = runRestore('(d) onto a fresh node with another hostname', fresh.siteFile, ['--hostname', 'qs-fresh.bench.test', '--share-root', fresh.site.shareRoot]);
const floorLast = measureFloor();
const floorMs = (floorFirst + floorLast) / 2;
console.log(`(a) raw pg_restore + cp -r:                  ${sec(floorMs)} s   (mean of ${sec(floorFirst)} s before the restores and ${sec(floorLast)} s after)`);
console.log(`(b) qsadmin restore, 5 % of apps changed:     ${sec(deltaMs)} s   ratio ${(deltaMs / floorMs).toFixed(2)} (target <= 1.2)`);
console.log(`(c) qsadmin restore, no live file kept:       ${sec(fullMs)} s   ratio ${(fullMs / floorMs).toFixed(2)}`);
console.log(`(d) qsadmin restore onto a fresh node:        ${sec(freshMs)} s   ratio ${(freshMs / floorMs).toFixed(2)}`);
if (keep) {
  console.log(`kept: sites ${path.join(work, 'site')} and ${path.join(work, 'fresh')} (running), backup ${backup}, state ${path.join(work, 'state')}`);
} else {
  await destroySite(path.join(work, 'site'));
  await destroySite(path.join(work, 'fresh'));
  fs.rmSync(work, { recursive: true, force: true });
}
