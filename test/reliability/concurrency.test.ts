// Concurrency: two backups at once on one site (one state dir, and two state dirs: the lock belongs to the site), a
// backup during a restore and the reverse: exactly one runs, the other exits 3 naming the holder, the site is fine.
// And a stress test of the lock itself: several processes, thousands of attempts, never two holders.
// Long: runs with `npm run test:reliability` (QSADMIN_RELIABILITY_LONG=1), skipped in `npm test`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../../src/emulator/site.js';
import { ROOT } from '../helpers/cli.js';
import { destroySites, makeSite } from '../helpers/site.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { lastLine, runCli, serviceStates, startCli, waitForStepStart, type RunOutcome } from './harness.js';

const LONG = !!process.env.QSADMIN_RELIABILITY_LONG;
const CERT_PASSWORD = 'concurrency-test-pfx-password';
let s: EmulatedSite;
let setToRestore: string;

const env = (stateDir: string) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD });
const backupArgs = (target: string) => ['backup', 'create', '--site', s.siteFile, '--to', target, '--json'];
const outcome = async (p: ReturnType<typeof startCli>): Promise<RunOutcome> => {
  const r = await p;
  return { exitCode: r.exitCode ?? null, signal: r.signal ?? null, stdout: String(r.stdout), stderr: String(r.stderr), ms: 0 };
};

// Run fn while a run is held still with SIGSTOP (it keeps its lock and its place), so that the second command meets
// it in the middle however long the second one takes to get to the lock; SIGCONT afterwards.
async function whilePaused<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

async function expectSiteRunning(): Promise<void> {
  expect(Object.entries(await serviceStates(s.site)).filter(([, v]) => v !== 'running')).toEqual([]);
}

// One of two outcomes succeeded and the other was refused with exit 3 naming the winner's run.
function expectOneRanOneLocked(a: RunOutcome, b: RunOutcome): { winner: RunOutcome; loser: RunOutcome } {
  const codes = [a.exitCode, b.exitCode].sort();
  expect(codes, `${lastLine(a.stderr)} | ${lastLine(b.stderr)}`).toEqual([0, 3]);
  const [winner, loser] = a.exitCode === 0 ? [a, b] : [b, a];
  const winnerId = JSON.parse(winner.stdout).runId as string;
  expect(JSON.parse(loser.stdout).error.message).toContain(`locked by run ${winnerId}`);
  return { winner, loser };
}

beforeAll(async () => {
  if (!LONG) return;
  s = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 47300, baseAddress: '127.0.0.232', hostnames: ['qs-concurrency.test'], startServices: true });
  const target = tempDir();
  const r = await runCli(backupArgs(target), env(tempDir()));
  expect(r.exitCode, lastLine(r.stderr)).toBe(0);
  setToRestore = JSON.parse(r.stdout).outputs.backup.dir;
});

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe.skipIf(!LONG)('concurrent runs on one site (npm run test:reliability)', { timeout: 300_000 }, () => {
  it('two backup create at once with one state dir: one runs, the other exits 3 naming it and writes nothing', async () => {
    const stateDir = tempDir();
    const [ta, tb] = [tempDir(), tempDir()];
    const [a, b] = await Promise.all([outcome(startCli(backupArgs(ta), env(stateDir))), outcome(startCli(backupArgs(tb), env(stateDir)))]);
    const { winner } = expectOneRanOneLocked(a, b);
    const loserTarget = winner === a ? tb : ta;
    expect(fs.readdirSync(loserTarget)).toEqual([]);
    await expectSiteRunning();
  });

  it('two backup create at once with two state dirs: the lock belongs to the site, not to the state dir', async () => {
    const [ta, tb] = [tempDir(), tempDir()];
    const [a, b] = await Promise.all([outcome(startCli(backupArgs(ta), env(tempDir()))), outcome(startCli(backupArgs(tb), env(tempDir())))]);
    expectOneRanOneLocked(a, b);
    await expectSiteRunning();
  });

  it('a backup during a restore is refused with exit 3 naming the restore; the restore finishes', async () => {
    const stateDir = tempDir();
    const restore = startCli(['restore', setToRestore, '--site', s.siteFile, '--yes', '--json'], env(stateDir));
    const restoreId = await waitForStepStart(stateDir, /^restore\.db\.load\./);
    const target = tempDir();
    const b = await whilePaused(restore.pid!, () => runCli(backupArgs(target), env(stateDir)));
    expect(b.exitCode, lastLine(b.stderr)).toBe(3);
    expect(JSON.parse(b.stdout).error.message).toContain(`locked by run ${restoreId}`);
    expect(fs.readdirSync(target)).toEqual([]);
    const r = await outcome(restore);
    expect(r.exitCode, lastLine(r.stderr)).toBe(0);
    await expectSiteRunning();
  });

  it('a restore during a backup is refused with exit 3 naming the backup; the backup finishes', async () => {
    const stateDir = tempDir();
    const target = tempDir();
    const backup = startCli(backupArgs(target), env(stateDir));
    const backupId = await waitForStepStart(stateDir, /^backup\.db\.dump\./);
    const r = await whilePaused(backup.pid!, () => runCli(['restore', setToRestore, '--site', s.siteFile, '--yes', '--json'], env(stateDir)));
    expect(r.exitCode, lastLine(r.stderr)).toBe(3);
    expect(JSON.parse(r.stdout).error.message).toContain(`locked by run ${backupId}`);
    const b = await outcome(backup);
    expect(b.exitCode, lastLine(b.stderr)).toBe(0);
    await expectSiteRunning();
  });

  it('the lock under stress: 4 processes, 2000 attempts, never two holders', async () => {
    const stateDir = tempDir();
    const script = path.join(tempDir(), 'lock-stress.mjs');
    // Each process takes the lock as the runner does; while it holds it, it creates a marker with O_EXCL: a second
    // holder finds the marker there.
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
import { acquireLock } from ${JSON.stringify(path.join(ROOT, 'dist', 'src', 'runbook', 'lock.js'))};
const [stateDir, n] = process.argv.slice(2);
const marker = stateDir + '/holder';
let held = 0, refused = 0, double = 0;
for (let i = 0; i < Number(n); i++) {
  let release;
  try { release = acquireLock(stateDir, 'stress-site', 'run-' + process.pid + '-' + i); } catch (e) { if (e.exitCode === 3) { refused++; continue; } throw e; }
  held++;
  try { fs.writeFileSync(marker, String(process.pid), { flag: 'wx' }); } catch { double++; }
  for (let j = 0; j < 2000; j++); // hold it a moment
  try { if (fs.readFileSync(marker, 'utf8') === String(process.pid)) fs.rmSync(marker); } catch {}
  release();
}
console.log(JSON.stringify({ held, refused, double }));
`,
    );
    const run = () =>
      new Promise<{ held: number; refused: number; double: number }>((resolve, reject) => {
        const c = spawn(process.execPath, [script, stateDir, '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`lock stress process exit ${code}`))));
      });
    const results = await Promise.all([run(), run(), run(), run()]);
    const total = results.reduce((t, r) => ({ held: t.held + r.held, refused: t.refused + r.refused, double: t.double + r.double }), { held: 0, refused: 0, double: 0 });
    expect(total.held + total.refused).toBe(2000);
    expect(total.held).toBeGreaterThan(0);
    expect(total, 'double holds of the site lock').toMatchObject({ double: 0 });
  });
});
