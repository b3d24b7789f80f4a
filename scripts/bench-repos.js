#!/usr/bin/env node
// Repository benchmark, one emulated site, all in one run (the machine is shared and noisy: compare rows of the same
// run only): `backup create` to a local folder, to Azurite and to s3rver (both on 127.0.0.67, started here), a full
// set each, then 5 % of the app files changed (and their QSR rows), then an incremental set each.
// Prints wall time, peak RSS (of the CLI process tree's largest) and bytes sent (for the folder: bytes written).
// The emulators write to local disk, so "sent" is over loopback: the figures show bytes, not a WAN's throughput.
//
// Each run appends one JSON line to scripts/bench-repos.results.jsonl (--results to change): commit, load, rows.
//
// Usage: npm run build && node scripts/bench-repos.js [--size large] [--dir /var/tmp/qsadmin-bench-repos] [--keep]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 has only in its legacy provider: without it
// any listing past 1000 keys (a large site's objects) is a 500 InternalError. s3rver runs in this process, so it re-runs
// itself with the provider loaded (qsadmin, a separate process, does not need it).
if (!process.execArgv.includes('--openssl-legacy-provider')) {
  const r = spawnSync(process.execPath, ['--openssl-legacy-provider', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const size = arg('size', 'large');
const work = path.resolve(arg('dir', '/var/tmp/qsadmin-bench-repos'));
const keep = process.argv.includes('--keep');
const HOST = '127.0.0.25';
const resultsFile = path.resolve(arg('results', path.join(root, 'scripts', 'bench-repos.results.jsonl')));
const loadAtStart = os.loadavg();
const AZ_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const { createEmulatedSite, destroySite } = await dist('src/emulator/site.js');
const { mutateApps } = await dist('src/emulator/db/generate.js');
const { findPgBinDir } = await dist('src/postgres/bin.js');

const fresh = (d) => (fs.rmSync(d, { recursive: true, force: true }), fs.mkdirSync(d, { recursive: true }), d);
const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, HOST, () => { const p = s.address().port; s.close(() => res(p)); }); });

fs.mkdirSync(work, { recursive: true });
fs.chmodSync(work, 0o755);
const siteDir = path.join(work, 'site');
await destroySite(siteDir).catch(() => undefined);
let t = Date.now();
const created = await createEmulatedSite({ dir: siteDir, size, portOffset: 42000, baseAddress: '127.0.0.24', startServices: true, layout: 'installer' });
console.log(`site ${size}: created in ${((Date.now() - t) / 1000).toFixed(1)} s`);

// Servers
const srv = fresh(path.join(work, 'servers'));
const azPort = await freePort();
const az = spawn(process.execPath, [path.join(root, 'node_modules/azurite/dist/src/blob/main.js'), '--blobHost', HOST, '--blobPort', String(azPort), '--location', path.join(srv, 'azurite'), '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'], { stdio: 'ignore' });
const { default: S3rver } = await import('s3rver');
const s3 = new S3rver({ address: HOST, port: 0, silent: true, directory: path.join(srv, 's3rver'), configureBuckets: [{ name: 'bench' }] });
const { port: s3Port } = await s3.run();
for (let i = 0; ; i++) {
  const up = await new Promise((res) => { const c = net.connect(azPort, HOST, () => (c.end(), res(true))); c.on('error', () => res(false)); });
  if (up) break;
  if (i > 300) throw new Error('Azurite did not start');
  await new Promise((r) => setTimeout(r, 100));
}
const sdk = await import('@azure/storage-blob');
const azEndpoint = `http://${HOST}:${azPort}/devstoreaccount1`;
await new sdk.BlobServiceClient(azEndpoint, new sdk.StorageSharedKeyCredential('devstoreaccount1', AZ_KEY)).getContainerClient('bench').createIfNotExists();

const stateDir = fresh(path.join(work, 'state'));
const folder = fresh(path.join(work, 'folder'));
const env = {
  QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: 'benchmark-pfx-password', QSADMIN_RENDERER: 'silent', QSADMIN_DB_PASSWORD: created.superuserPassword,
  QSADMIN_REPO_PASSPHRASE: 'benchmark repository passphrase',
  AZURE_STORAGE_KEY: AZ_KEY, QSADMIN_AZURE_ENDPOINT: azEndpoint,
  AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', QSADMIN_S3_ENDPOINT: `http://${HOST}:${s3Port}`,
};
const targets = [['folder', folder], ['azurite', 'azure://devstoreaccount1/bench/site'], ['s3rver', 's3://bench/site']];

// Asynchronous: s3rver runs in this process, so a blocking spawnSync would leave it unable to answer.
function run(cmd, args) {
  return new Promise((res) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (status) => res({ status, stdout, stderr }));
  });
}

async function backup(label, to) {
  const t0 = Date.now();
  const r = await run('/usr/bin/time', ['-f', '%M', process.execPath, path.join(root, 'bin', 'run.js'), 'backup', 'create', '--site', created.siteFile, '--to', to, '--json', '--no-logs']);
  const ms = Date.now() - t0;
  const lines = r.stderr.trim().split('\n');
  const j = JSON.parse(r.stdout);
  if (j.status !== 'succeeded') throw new Error(`${label}: ${JSON.stringify(j.error)}`);
  const up = j.outputs['backup.repository'];
  const b = j.outputs.backup;
  const upload = j.steps.find((s) => s.id === 'backup.upload');
  return { label, ms, rssKiB: Number(lines.at(-1)), setBytes: b.bytes, sent: up ? up.bytesSent : b.bytes - (b.reusedBytes ?? 0), uploadMs: upload?.durationMs ?? 0 };
}

const rows = [];
for (const [name, to] of targets) rows.push({ name, kind: 'full', ...(await backup(`${name} full`, to)) });
const changed = await mutateApps(path.join(created.site.shareRoot, 'Apps'), 0.05, 11);
const bin = await findPgBinDir({});
const db = created.site.database;
const ids = changed.files.map((f) => `'${f.replace(/[^0-9a-f-]/g, '')}'`).join(',');
execFileSync(path.join(bin.dir, 'psql'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-w', '-d', 'QSR', '-v', 'ON_ERROR_STOP=1', '-c', `UPDATE "Apps" SET "ModifiedDate" = now() WHERE "ID" IN (${ids})`], { env: { ...process.env, PGPASSWORD: created.superuserPassword } });
for (const [name, to] of targets) rows.push({ name, kind: 'incr', ...(await backup(`${name} 5 % incremental`, to)) });

console.log(`\n${'run'.padEnd(26)} ${'wall s'.padStart(8)} ${'upload s'.padStart(9)} ${'RSS MB'.padStart(7)} ${'set MB'.padStart(9)} ${'sent MB'.padStart(9)} ${'sent/full'.padStart(10)}`);
for (const r of rows) {
  const full = rows.find((x) => x.name === r.name && x.kind === 'full');
  console.log(`${r.label.padEnd(26)} ${(r.ms / 1000).toFixed(1).padStart(8)} ${(r.uploadMs / 1000).toFixed(1).padStart(9)} ${(r.rssKiB / 1024).toFixed(0).padStart(7)} ${(r.setBytes / 1e6).toFixed(1).padStart(9)} ${(r.sent / 1e6).toFixed(1).padStart(9)} ${((100 * r.sent) / full.sent).toFixed(1).padStart(9)}%`);
}
const incrOk = targets.every(([name]) => {
  const f = rows.find((x) => x.name === name && x.kind === 'full');
  const i = rows.find((x) => x.name === name && x.kind === 'incr');
  return i.sent < 0.1 * f.sent;
});
console.log(`incremental under 10 % of the full set's bytes for every target: ${incrOk ? 'yes' : 'NO'}`);
const line = {
  bench: 'repos', at: new Date().toISOString(), commit: spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
  cores: os.cpus().length, load: { start: loadAtStart, end: os.loadavg() }, size, changedApps: changed.files.length, incrementalUnder10pc: incrOk, rows,
};
console.log(JSON.stringify(line));
fs.appendFileSync(resultsFile, JSON.stringify(line) + '\n');
await s3.close();
az.kill('SIGTERM');
if (!keep) {
  await destroySite(siteDir);
  fs.rmSync(work, { recursive: true, force: true });
}
