#!/usr/bin/env node
// Backup benchmark on one emulated site, all in one run (these machines are shared and noisy: only ratios
// against a baseline measured in the same run mean anything):
//   (a) the guide's manual procedure done literally: stop services, `pg_dump -b -F t` per database one after
//       another, a plain recursive copy of the share, start services;
//   (b) a raw copy of the same bytes (the floor): `cp -r` of the share and of (a)'s dump files;
//   (c) `qsadmin backup create`, a first full backup;
//   (d) `qsadmin backup create` again after 5 % of the app files changed, and their rows in QSR (incremental).
// Prints wall time, service downtime and peak RSS of each, and the ratios to (a).
//
// Usage: npm run build && node scripts/bench-backup.js [--size large] [--dir /var/tmp/qsadmin-bench] [--keep]
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
const size = arg('size', 'large');
const work = path.resolve(arg('dir', '/var/tmp/qsadmin-bench'));
const keep = process.argv.includes('--keep');

const { createEmulatedSite, destroySite, startSite, stopSite } = await dist('src/emulator/site.js');
const { mutateApps } = await dist('src/emulator/db/generate.js');
const { findPgBinDir } = await dist('src/postgres/bin.js');

/** Run a command under GNU time; returns wall ms and peak RSS (KiB) of the command and its largest child. */
function timed(cmd, args, env = {}) {
  const t0 = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Date.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const lines = r.stderr.trim().split('\n');
  return { ms, rssKiB: Number(lines[lines.length - 1]), stdout: r.stdout };
}

function fresh(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function du(dir) {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

const siteDir = path.join(work, 'site');
fs.mkdirSync(work, { recursive: true });
fs.chmodSync(work, 0o755);
await destroySite(siteDir).catch(() => undefined);
let t = Date.now();
const created = await createEmulatedSite({ dir: siteDir, size, portOffset: 45000, baseAddress: '127.0.0.230', startServices: true, layout: 'installer' });
const site = created.site;
const generateMs = Date.now() - t;
const shareBytes = du(site.shareRoot);
console.log(`site ${size}: created in ${(generateMs / 1000).toFixed(1)} s; share ${(shareBytes / 1e9).toFixed(2)} GB`);

const bin = await findPgBinDir({ hint: site.database.binDir });
const pgEnv = { PGPASSWORD: created.superuserPassword };
const db = site.database;
const dbs = ['QSR', 'SenseServices', 'QSMQ', 'Licenses'];
const qsrBytes = Number(
  execFileSync(path.join(bin.dir, 'psql'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w', '-At', '-c', "select pg_database_size('QSR')"], { env: { ...process.env, ...pgEnv }, encoding: 'utf8' }).trim(),
);
console.log(`QSR ${(qsrBytes / 1e6).toFixed(0)} MB`);

// Warm the page cache the same way for everyone: read the share once.
execFileSync('sh', ['-c', `tar -cf - -C '${site.shareRoot}' . | cat > /dev/null`]);

const step = (m) => process.stderr.write(`  ${new Date().toISOString().slice(11, 19)} ${m}\n`);
step('cache warm');
// Every phase starts with the page cache's dirty data written out, so that no phase pays for the previous one's writes.
const settle = () => execFileSync('sync');
// (a) the manual procedure, literally
const manualDir = fresh(path.join(work, 'manual'));
settle();
t = Date.now();
await stopSite(site, { database: false });
step('manual: services stopped');
let rss = 0;
for (const name of dbs) {
  const r = timed(path.join(bin.dir, 'pg_dump'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w', '-b', '-F', 't', '-f', path.join(manualDir, `${name}_backup.tar`), name], pgEnv);
  rss = Math.max(rss, r.rssKiB);
}
step('manual: dumps written');
const cp = timed('cp', ['-r', site.shareRoot, path.join(manualDir, 'share')]);
rss = Math.max(rss, cp.rssKiB);
await startSite(site);
const manual = { name: '(a) manual: stop, pg_dump -F t ×4, cp -r, start', ms: Date.now() - t, downMs: Date.now() - t, rssKiB: rss };

step('manual: done');
// (b) raw copy of the same bytes: the floor
const rawDir = fresh(path.join(work, 'raw'));
settle();
t = Date.now();
const raw1 = timed('cp', ['-r', path.join(manualDir, 'share'), path.join(rawDir, 'share')]);
const raw2 = timed('sh', ['-c', `cp ${manualDir}/*_backup.tar ${rawDir}/`]);
const raw = { name: '(b) raw copy of the same bytes', ms: Date.now() - t, downMs: 0, rssKiB: Math.max(raw1.rssKiB, raw2.rssKiB) };
fs.rmSync(rawDir, { recursive: true, force: true });
fs.rmSync(manualDir, { recursive: true, force: true });

// (c) and (d): qsadmin
const target = fresh(path.join(work, 'backups'));
const stateDir = fresh(path.join(work, 'state'));
const cli = (label) => {
  settle();
  const r = timed(process.execPath, [path.join(root, 'bin', 'run.js'), 'backup', 'create', '--site', created.siteFile, '--to', target, '--json', '--no-logs'], {
    QSADMIN_STATE_DIR: stateDir,
    QSADMIN_CERT_PASSWORD: 'benchmark-pfx-password',
    QSADMIN_RENDERER: 'silent',
  });
  const j = JSON.parse(r.stdout);
  if (j.status !== 'succeeded') throw new Error(`${label}: ${JSON.stringify(j.error)}`);
  const slow = j.steps.filter((x) => x.durationMs !== undefined).sort((a, b) => b.durationMs - a.durationMs).slice(0, 6);
  console.log(`${label}: slowest steps ${slow.map((x) => `${x.id} ${(x.durationMs / 1000).toFixed(2)}s`).join(', ')}`);
  return { name: label, ms: r.ms, downMs: j.outputs.backup.downtimeMs, rssKiB: r.rssKiB, reused: j.outputs.backup.reusedFiles, files: j.outputs.backup.files };
};
step('raw: done');
const full = cli('(c) qsadmin backup create (full)');
const changed = await mutateApps(path.join(site.shareRoot, 'Apps'), 0.05, 11);
// What saving those apps does to QSR as well: their rows change (and a reload leaves an execution result).
const ids = changed.files.map((f) => `'${f.replace(/[^0-9a-f-]/g, '')}'`).join(',');
execFileSync(path.join(bin.dir, 'psql'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w', '-d', 'QSR', '-v', 'ON_ERROR_STOP=1', '-c',
  `UPDATE "Apps" SET "ModifiedDate" = now(), "LastReloadTime" = now() WHERE "ID" IN (${ids})`], { env: { ...process.env, ...pgEnv } });
const incr = cli(`(d) qsadmin backup create after ${changed.files.length} app files (5 %) changed`);

const rows = [manual, raw, full, incr];
console.log('');
console.log(`${'run'.padEnd(62)} ${'wall s'.padStart(7)} ${'down s'.padStart(7)} ${'RSS MB'.padStart(7)} ${'wall/(a)'.padStart(9)} ${'down/(a)'.padStart(9)} ${'wall/(b)'.padStart(9)}`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(62)} ${(r.ms / 1000).toFixed(2).padStart(7)} ${(r.downMs / 1000).toFixed(2).padStart(7)} ${(r.rssKiB / 1024).toFixed(0).padStart(7)} ${(r.ms / manual.ms).toFixed(2).padStart(9)} ${(r.downMs / manual.downMs).toFixed(3).padStart(9)} ${(r.ms / raw.ms).toFixed(2).padStart(9)}`,
  );
}
console.log(`\nincremental reused ${incr.reused} of ${incr.files} files`);
console.log(JSON.stringify({ size, generateMs, shareBytes, qsrBytes, rows }));

if (!keep) {
  await destroySite(siteDir);
  fs.rmSync(work, { recursive: true, force: true });
}
