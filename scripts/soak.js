#!/usr/bin/env node
// Soak: N nightly backups in a row (default 50) on a `small` emulated site with random app changes between them, a
// prune after each, and every 10th set restored into a fresh node and compared with what the set holds. Fails (exit 1)
// when a set is broken or the target holds more than the retention rule keeps; prints the wall time of the last ten
// runs against the first ten (a benchmark figure, not an assertion).
//
//   node scripts/soak.js [--runs 50] [--keep 7] [--size small] [--work DIR]
// Needs a build (npm run build). Uses 127.0.0.236/.237 (QSADMIN_EMULATOR_NET moves them) and ports offset by 47400/47500.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const dist = (p) => import(path.join(ROOT, 'dist', 'src', p));

const { values: o } = parseArgs({
  options: { runs: { type: 'string', default: '50' }, keep: { type: 'string', default: '7' }, size: { type: 'string', default: 'small' }, work: { type: 'string' } },
});
const RUNS = Number(o.runs);
const KEEP = Number(o.keep);
const CERT_PASSWORD = 'soak-pfx-password-1';

// Run the CLI; resolves with exit code and output (never rejects for an exit code).
function qsadmin(args, env = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, QSADMIN_RENDERER: 'simple', CI: 'true', NODE_ENV: 'production', QSADMIN_CERT_PASSWORD: CERT_PASSWORD, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const last = (t) => t.trim().split('\n').filter(Boolean).pop() ?? '';
function must(r, what) {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${last(r.stderr)}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : {};
}

// Bytes a folder takes on disk, each inode counted once (the sets share unchanged files through hard links).
function diskBytes(dir) {
  const seen = new Set();
  let bytes = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      if (e.isDirectory()) walk(p);
      else if (!seen.has(st.ino)) {
        seen.add(st.ino);
        bytes += st.blocks * 512;
      }
    }
  };
  walk(dir);
  return bytes;
}

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// Random app changes: some app files of the share rewritten, some app rows renamed (as users editing apps do).
async function changeApps(site, run) {
  const { mutateApps } = await dist('emulator/db/generate.js');
  const { withClient } = await dist('postgres/client.js');
  const { databasePassword } = await dist('emulator/services/database.js');
  const res = await mutateApps(path.join(site.shareRoot, 'Apps'), 0.05, run);
  const db = site.database;
  await withClient({ host: db.host, port: db.port, user: db.superuser, password: databasePassword(site), database: 'QSR' }, (c) =>
    c.query(`UPDATE "Apps" SET "Name" = "Name" || '.' WHERE random() < 0.05`),
  );
  return res.files.length;
}

// The set restored into a fresh node: its databases' row counts and its share files equal what the manifest says.
async function restoreAndCompare(setDir, work, hostname, n) {
  const { createEmulatedSite, destroySite } = await dist('emulator/site.js');
  const { withClient } = await dist('postgres/client.js');
  const dir = path.join(work, `fresh-${n}`);
  const fresh = await createEmulatedSite({ dir, size: 'tiny', portOffset: 47500, baseAddress: '127.0.0.237', hostnames: [hostname], startServices: false });
  const problems = [];
  try {
    const stateDir = path.join(work, `fresh-${n}-state`);
    const t = Date.now();
    const r = await qsadmin(['restore', setDir, '--site', fresh.siteFile, '--share-root', fresh.site.shareRoot, '--yes', '--json'], { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: fresh.superuserPassword });
    if (r.code !== 0) return { problems: [`restore of ${path.basename(setDir)} failed (exit ${r.code}): ${last(r.stderr)}`], ms: Date.now() - t };
    const ms = Date.now() - t;
    const m = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
    const db = fresh.site.database;
    for (const d of m.databases.filter((x) => x.dumped && x.rowCounts)) {
      await withClient({ host: db.host, port: db.port, user: db.superuser, password: fresh.superuserPassword, database: d.name }, async (c) => {
        for (const [table, want] of Object.entries(d.rowCounts)) {
          const [schema, name] = table.includes('.') ? table.split('.') : ['public', table];
          const got = (await c.query(`SELECT count(*)::int AS n FROM "${schema}"."${name}"`)).rows[0].n;
          if (got !== want) problems.push(`${d.name}.${table}: ${got} rows restored, the set holds ${want}`);
        }
      });
    }
    const shareRoot = fresh.site.shareRoot;
    for (const f of m.files.filter((x) => x.kind === 'share')) {
      const rel = f.path.replace(/^files\/share\//, '');
      const live = path.join(shareRoot, rel);
      if (!fs.existsSync(live)) problems.push(`share file ${rel} not restored`);
      else if (sha256(live) !== f.sha256) problems.push(`share file ${rel} differs from the set`);
    }
    return { problems, ms };
  } finally {
    await destroySite(dir);
  }
}

async function main() {
  const { createEmulatedSite, destroySite } = await dist('emulator/site.js');
  const work = o.work ? path.resolve(o.work) : fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-soak-'));
  fs.mkdirSync(work, { recursive: true });
  fs.chmodSync(work, 0o755);
  const siteDir = path.join(work, 'site');
  const target = path.join(work, 'sets');
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(target, { recursive: true });
  const began = Date.now();
  console.log(`soak: ${RUNS} backups of a ${o.size} site in ${work}, prune --keep-last ${KEEP} after each`);
  let t = Date.now();
  const site = await createEmulatedSite({ dir: siteDir, size: o.size, portOffset: 47400, baseAddress: '127.0.0.236', hostnames: ['qs-soak.test'], startServices: true });
  console.log(`site created in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const env = { QSADMIN_STATE_DIR: stateDir };
  const times = [];
  const failures = [];
  try {
    for (let run = 1; run <= RUNS; run++) {
      const changed = await changeApps(site.site, run);
      t = Date.now();
      const b = must(await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json'], env), `backup ${run}`);
      const ms = Date.now() - t;
      times.push(ms);
      must(await qsadmin(['backup', 'prune', '--site', site.siteFile, '--to', target, '--keep-last', String(KEEP), '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--json'], env), `prune ${run}`);
      const entries = fs.readdirSync(target).sort();
      const want = Math.min(run, KEEP);
      if (entries.length !== want) failures.push(`run ${run}: the target holds ${entries.length} entries (${entries.join(', ')}), the rule keeps ${want}`);
      if (!entries.includes(path.basename(b.outputs.backup.dir))) failures.push(`run ${run}: the new set was pruned`);
      const bytes = diskBytes(target);
      let line = `run ${String(run).padStart(2)}: backup ${(ms / 1000).toFixed(1)} s, ${changed} app files changed, ${entries.length} sets, ${(bytes / 2 ** 20).toFixed(1)} MiB on disk`;
      if (run % 10 === 0) {
        for (const e of entries) {
          const v = await qsadmin(['backup', 'verify', path.join(target, e)], env);
          if (v.code !== 0) failures.push(`run ${run}: set ${e} no longer verifies: ${last(v.stderr)}`);
        }
        const cmp = await restoreAndCompare(b.outputs.backup.dir, work, 'qs-soak.test', run);
        failures.push(...cmp.problems.map((p) => `run ${run}: ${p}`));
        line += `; all ${entries.length} sets verified; restored into a fresh node in ${(cmp.ms / 1000).toFixed(1)} s, ${cmp.problems.length ? cmp.problems.length + ' differences' : 'same content'}`;
      }
      console.log(line);
    }
  } finally {
    await destroySite(siteDir).catch((e) => console.error(`cleanup: ${e.message}`));
  }
  const mean = (a) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const first = times.slice(0, 10);
  const lastTen = times.slice(-10);
  console.log(`wall time per backup: runs 1-${first.length} ${(mean(first) / 1000).toFixed(2)} s, runs ${times.length - lastTen.length + 1}-${times.length} ${(mean(lastTen) / 1000).toFixed(2)} s (mean)`);
  console.log(`soak wall time ${((Date.now() - began) / 60_000).toFixed(1)} min`);
  if (failures.length) {
    console.log(`FAILED: ${failures.length} problems\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log(`soak passed: ${RUNS} backups, no set broken, the target follows the retention rule`);
    if (!o.work) fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
