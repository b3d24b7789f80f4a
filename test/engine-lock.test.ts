// The site lock under contention: several processes, thousands of attempts, holders that die holding it; never two
// holders at once. And the lock belongs to the site: two state dirs (or two config files) for one site exclude
// each other.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, lockDir, lockFile } from '../src/runbook/lock.js';
import { ROOT } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const WORKER = path.join(ROOT, 'test', 'fixtures', 'lock-worker.mjs');
const MODULE = process.env.QSADMIN_LOCK_MODULE ?? path.join(ROOT, 'dist', 'src', 'runbook', 'lock.js');
const PROCESSES = 4;
const ATTEMPTS = Number(process.env.QSADMIN_LOCK_ATTEMPTS ?? 1000);

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn('node', [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('site lock', () => {
  it(`never has two holders: ${PROCESSES} processes, ${PROCESSES * ATTEMPTS} attempts, holders that die holding it`, async () => {
    const dir = tempDir();
    const work = tempDir();
    const site = `lock-stress:${work}`;
    const dead = String(spawnSync('true').pid);
    const results = await Promise.all(Array.from({ length: PROCESSES }, () => run([MODULE, dir, site, work, String(ATTEMPTS), dead])));
    for (const r of results) expect(r.code, r.err).toBe(0);
    const stats = results.map((r) => JSON.parse(r.out) as { held: number; refused: number; doubles: number; abandoned: number });
    const total = stats.reduce((a, s) => ({ held: a.held + s.held, refused: a.refused + s.refused, doubles: a.doubles + s.doubles, abandoned: a.abandoned + s.abandoned }));
    console.log(`lock stress: ${JSON.stringify(total)}`);
    expect(total.doubles, fs.readFileSync(path.join(work, 'log'), 'utf8').split('\n').filter((l) => l.startsWith('DOUBLE')).slice(0, 5).join('\n')).toBe(0);
    expect(total.held).toBeGreaterThan(PROCESSES * 10); // it was really contended, and taken many times
    expect(total.abandoned).toBeGreaterThan(0); // stale locks were really reaped
    // nothing left behind but, at most, the last abandoned lock
    expect(fs.readdirSync(dir).filter((f) => !f.endsWith('.lock'))).toEqual([]);
  }, 120_000);

  it('is one lock per site, machine-wide: two state dirs do not both hold it', () => {
    const site = `lock-site:${tempDir()}`;
    expect(path.dirname(lockFile(site))).toBe(lockDir());
    const release = acquireLock(site, 'first-run');
    try {
      // the lock is not under any state dir: a second run with another --state-dir meets the same file
      expect(() => acquireLock(site, 'second-run')).toThrow(/locked by run first-run/);
      const held = JSON.parse(fs.readFileSync(lockFile(site), 'utf8'));
      expect(held).toMatchObject({ pid: process.pid, host: os.hostname(), runId: 'first-run', site });
    } finally {
      release();
    }
    expect(fs.existsSync(lockFile(site))).toBe(false);
  });

  it("waits for a killed run's guard (it holds the lock for seconds), and is refused at once by any other holder", async () => {
    const dir = tempDir();
    const site = `lock-site:${dir}`;
    // another process takes the lock as a guard, holds it 800 ms, lets go
    const code = `import(${JSON.stringify(MODULE)}).then((m) => { const r = m.acquireLock(${JSON.stringify(site)}, 'killed-run', { dir: ${JSON.stringify(dir)}, guard: true }); console.log('held'); setTimeout(() => { r(); process.exit(0); }, 800); })`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    expect(JSON.parse(fs.readFileSync(lockFile(site, dir), 'utf8'))).toMatchObject({ runId: 'killed-run', guard: true });
    expect(() => acquireLock(site, 'resume', { dir, guardWaitMs: 0 })).toThrow(/locked by run killed-run/);
    const notes: string[] = [];
    const t = Date.now();
    const release = acquireLock(site, 'resume', { dir, log: (m) => notes.push(m) });
    expect(Date.now() - t).toBeGreaterThan(200);
    expect(notes.join('\n')).toContain('waiting for the guard of killed run killed-run');
    release();
    await new Promise((res) => child.once('exit', res));
    // a holder that is not a guard is refused without waiting
    const other = acquireLock(site, 'first', { dir });
    try {
      const t2 = Date.now();
      expect(() => acquireLock(site, 'second', { dir })).toThrow(/locked by run first/);
      expect(Date.now() - t2).toBeLessThan(150);
    } finally {
      other();
    }
  });

  it("lets a killed run's guard take over the run's lock from a pid it knows is dead, even while that pid exists", async () => {
    const dir = tempDir();
    const site = `lock-site:${dir}`;
    // a holder still in the process table (as a SIGKILLed qsadmin is until its parent reaps it)
    const code = `import(${JSON.stringify(MODULE)}).then((m) => { m.acquireLock(${JSON.stringify(site)}, 'killed-run', { dir: ${JSON.stringify(dir)} }); console.log('held'); setTimeout(() => process.exit(0), 30000); })`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res) => child.stdout!.once('data', () => res()));
      expect(() => acquireLock(site, 'killed-run', { dir, guard: true, guardWaitMs: 0 })).toThrow(/locked by run killed-run/);
      // the pid is only taken as dead for its own run's lock
      expect(() => acquireLock(site, 'another-run', { dir, guard: true, guardWaitMs: 0, deadPid: child.pid })).toThrow(/locked by run killed-run/);
      const release = acquireLock(site, 'killed-run', { dir, guard: true, guardWaitMs: 0, deadPid: child.pid });
      expect(JSON.parse(fs.readFileSync(lockFile(site, dir), 'utf8'))).toMatchObject({ pid: process.pid, runId: 'killed-run', guard: true });
      release();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('lives in %ProgramData%\\qsadmin\\locks on Windows, QSADMIN_LOCK_DIR when set', () => {
    expect(lockDir({ ProgramData: 'D:\\PD' }, 'win32')).toBe('D:\\PD\\qsadmin\\locks');
    expect(lockDir({ QSADMIN_LOCK_DIR: '/srv/locks' }, 'linux')).toBe('/srv/locks');
  });
});
