// Injected faults on a real emulated site: a service that hangs on stop, QRS that never reaches servicestate 2,
// PostgreSQL going away in the middle of the dumps, the disk filling during a dump (a small tmpfs), a dump's child
// process killed, a wrong database password, a port in use, and a stale lock of a dead run. Each must give one clear
// line and the documented exit code, leave the services as they were before the run, leave nothing half-written
// that is not marked as such, and resume once the fault is gone.
// Long (several backups): runs with `npm run test:reliability`, skipped in `npm test`.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { siteCluster } from '../../src/emulator/services/database.js';
import { EmulatedHost } from '../../src/host/emulated/index.js';
import type { EmulatedSite } from '../../src/emulator/site.js';
import { lockFile } from '../../src/runbook/lock.js';
import { destroySites, editSite, makeSite } from '../helpers/site.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { journal, lastLine, runCli, runIds, serviceStates, startCli, treeHashes, waitForStepStart } from './harness.js';

const LONG = !!process.env.QSADMIN_RELIABILITY_LONG;
const CERT_PASSWORD = 'faults-test-pfx-password';
let s: EmulatedSite;

const env = (stateDir: string, extra: Record<string, string> = {}) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, ...extra });
const backupArgs = (target: string, ...more: string[]) => ['backup', 'create', '--site', s.siteFile, '--to', target, '--json', ...more];

async function allRunning(): Promise<Record<string, string>> {
  return serviceStates(s.site);
}

// The one set folder in a target (a failed run leaves its incomplete set, marked by the missing manifest.json).
function onlySet(target: string): string {
  const sets = fs.readdirSync(target).filter((n) => !n.startsWith('.'));
  expect(sets, `sets in ${target}`).toHaveLength(1);
  return path.join(target, sets[0]);
}

// A finished backup: resumed to exit 0, its set verifies, and holds no file its manifest does not list.
async function expectGoodSet(target: string, stateDir: string): Promise<void> {
  const set = onlySet(target);
  const v = await runCli(['backup', 'verify', set], env(stateDir));
  expect(v.exitCode, lastLine(v.stderr)).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(set, 'manifest.json'), 'utf8')) as { files: Array<{ path: string }> };
  const listed = new Set(m.files.map((f) => f.path));
  expect(Object.keys(treeHashes(set)).filter((p) => !listed.has(p) && p !== 'manifest.json' && p !== 'verified.json')).toEqual([]);
}

// Resume the only run of a state dir; it must succeed.
async function resumeOnly(stateDir: string, extra: Record<string, string> = {}): Promise<void> {
  const [id] = runIds(stateDir);
  const r = await runCli(['runs', 'resume', id, '--yes', '--json'], env(stateDir, extra));
  expect(r.exitCode, lastLine(r.stderr)).toBe(0);
}

// Processes whose parent chain leads to pid (the children of a qsadmin run).
function descendants(pid: number): Array<{ pid: number; cmd: string }> {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/)!)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), cmd: m[3] }));
  const out: Array<{ pid: number; cmd: string }> = [];
  const walk = (p: number) => {
    for (const r of rows.filter((x) => x.ppid === p)) {
      out.push(r);
      walk(r.pid);
    }
  };
  walk(pid);
  return out;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  if (!LONG) return;
  s = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 47200, baseAddress: '127.0.0.228', hostnames: ['qs-faults.test'], startServices: true, emulator: { stopTimeoutMs: 2_000 } });
});

// Whatever a case did, the next one starts from a running site without faults.
afterEach(async () => {
  if (!LONG) return;
  editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = {}));
  const r = await runCli(['services', 'start', '--site', s.siteFile], env(tempDir()));
  if (r.exitCode !== 0) console.error(`restarting the site after a case failed: ${lastLine(r.stderr)}`);
});

// The --json result of a run; its absence (a crash before the result) is itself a failure worth its stderr.
function result(r: { stdout: unknown; stderr: unknown }): { error: { message: string; hint?: string } } {
  try {
    return JSON.parse(String(r.stdout));
  } catch {
    throw new Error(`no JSON result on stdout; stderr ends: ${String(r.stderr).trim().split('\n').slice(-8).join(' | ')}`);
  }
}

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe.skipIf(!LONG)('injected faults (QSADMIN_RELIABILITY_LONG=1: npm run test:reliability)', { timeout: 240_000 }, () => {
  it('a service that hangs on stop: exit 1 naming it, services running again, the set unfinished; resume once it is gone', async () => {
    const before = await allRunning();
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = { hangOnStop: ['QlikSenseEngineService'] }));
    // the fault is read by the service process at start: restart QES with it
    expect((await runCli(['services', 'stop', '--site', s.siteFile, '--service', 'QES'], env(tempDir()))).exitCode).toBe(0);
    expect((await runCli(['services', 'start', '--site', s.siteFile, '--service', 'QES'], env(tempDir()))).exitCode).toBe(0);
    const stateDir = tempDir();
    const target = tempDir();
    const r = await runCli(backupArgs(target, '--stop-timeout', '2'), env(stateDir));
    expect(r.exitCode, r.stderr).toBe(1);
    const error = JSON.parse(r.stdout).error as { message: string; hint?: string };
    expect(error.message).toMatch(/Engine|QES/);
    // As on Windows, a service that ignores its stop stays STOP_PENDING until its process is ended; every other service
    // is running again, as before the run.
    expect(await allRunning(), JSON.stringify(error)).toEqual({ ...before, 'central.QlikSenseEngineService': 'stop_pending' });
    expect(fs.readdirSync(target).every((n) => !fs.existsSync(path.join(target, n, 'manifest.json')))).toBe(true);
    // the operator ends the hung process (taskkill /F), removes the cause, and resumes
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = {}));
    const status = await new EmulatedHost(s.site, s.site.nodes[0]).services.status('QlikSenseEngineService');
    if (status.pid) process.kill(status.pid, 'SIGKILL');
    await resumeOnly(stateDir);
    expect(await allRunning()).toEqual(before);
    await expectGoodSet(target, stateDir);
  });

  it('QRS that never reaches servicestate 2: exit 1 saying it is still initializing; resume once it is up', async () => {
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = { qrsStuckInitializingMs: 20_000 }));
    const stateDir = tempDir();
    expect((await runCli(['services', 'stop', '--site', s.siteFile], env(tempDir()))).exitCode).toBe(0);
    const r = await runCli(['services', 'start', '--site', s.siteFile, '--timeout', '3', '--json'], env(stateDir));
    expect(r.exitCode, r.stderr).toBe(1);
    expect(result(r).error.message).toMatch(/did not reach servicestate 2 .*still initializing/);
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = {}));
    await new Promise((res) => setTimeout(res, 20_000)); // the repository comes up by itself, later than the run waited
    await resumeOnly(stateDir);
    expect(Object.values(await allRunning()).every((v) => v === 'running')).toBe(true);
  });

  it('PostgreSQL refusing connections in the middle of the dumps: exit 1, no manifest; resume once it is back', async () => {
    const stateDir = tempDir();
    const target = tempDir();
    const child = startCli(backupArgs(target), env(stateDir));
    await waitForStepStart(stateDir, /^backup\.db\.dump\./);
    await siteCluster(s.site, s.superuserPassword).stop({ mode: 'immediate', timeoutMs: 10_000 });
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(1);
    const message = result(r).error.message;
    expect(message).toMatch(/backup\.db\.dump|database|connect|terminat/i);
    expect(fs.existsSync(path.join(onlySet(target), 'manifest.json'))).toBe(false);
    // back: the database service and whatever stopped with it
    expect((await runCli(['services', 'start', '--site', s.siteFile], env(tempDir()))).exitCode).toBe(0);
    await resumeOnly(stateDir);
    await expectGoodSet(target, stateDir);
  });

  it('the disk filling up during a dump (tmpfs): exit 1 saying so, no manifest; resume once there is room', async () => {
    const mnt = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', mnt]);
    try {
      const stateDir = tempDir();
      const target = path.join(mnt, 'sets');
      fs.mkdirSync(target);
      const child = startCli(backupArgs(target), env(stateDir));
      await waitForStepStart(stateDir, /^backup\.db\.dump\./);
      const filler = path.join(mnt, 'filler');
      try {
        fs.writeFileSync(filler, Buffer.alloc(64 * 1024 * 1024));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(1);
      expect(result(r).error.message).toMatch(/ENOSPC|no space|disk full|free space/i);
      expect(Object.values(await allRunning()).every((v) => v === 'running')).toBe(true);
      expect(fs.existsSync(path.join(onlySet(target), 'manifest.json'))).toBe(false);
      fs.rmSync(filler);
      await resumeOnly(stateDir);
      await expectGoodSet(target, stateDir);
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });

  it('a dump child process killed: exit 1 naming it, no manifest; resume redoes the dump', async () => {
    const stateDir = tempDir();
    const target = tempDir();
    const child = startCli(backupArgs(target), env(stateDir));
    const victim = await until('a pg_dump child', () => descendants(child.pid!).find((p) => /(^|\/)pg_dump\s/.test(p.cmd)));
    process.kill(victim.pid, 'SIGKILL');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(1);
    expect(result(r).error.message).toMatch(/pg_dump/);
    expect(Object.values(await allRunning()).every((v) => v === 'running')).toBe(true);
    await resumeOnly(stateDir);
    await expectGoodSet(target, stateDir);
  });

  it('a wrong database password: exit 2 naming the variable, nothing written, services untouched', async () => {
    const before = await allRunning();
    const stateDir = tempDir();
    const target = tempDir();
    const r = await runCli(backupArgs(target), env(stateDir, { QSADMIN_DB_PASSWORD: 'not-the-password' }));
    expect(r.exitCode, r.stderr).toBe(2);
    expect(result(r).error.message).toMatch(/password/i);
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
    expect(fs.readdirSync(target)).toEqual([]);
    expect(await allRunning()).toEqual(before);
  });

  it('QRS with a wrong repository password: the start fails naming the database; resume once it is right', async () => {
    expect((await runCli(['services', 'stop', '--site', s.siteFile], env(tempDir()))).exitCode).toBe(0);
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = { wrongRepositoryPassword: true }));
    const stateDir = tempDir();
    const r = await runCli(['services', 'start', '--site', s.siteFile, '--timeout', '20', '--json'], env(stateDir));
    expect(r.exitCode, r.stderr).toBe(1);
    expect(result(r).error.message).toMatch(/Repository Service|QRS/);
    expect(result(r).error.message).toMatch(/password authentication failed|repository database/);
    editSite(s, (site) => ((site.emulator as Record<string, unknown>).faults = {}));
    await resumeOnly(stateDir);
    expect(Object.values(await allRunning()).every((v) => v === 'running')).toBe(true);
  });

  it('a port in use: the start fails naming the port; resume once it is free', async () => {
    expect((await runCli(['services', 'stop', '--site', s.siteFile], env(tempDir()))).exitCode).toBe(0);
    const node = s.site.nodes[0];
    const port = 4242 + (node.portOffset ?? 0);
    const squatter = net.createServer();
    await new Promise<void>((res) => squatter.listen({ host: node.address, port, exclusive: true }, res));
    const stateDir = tempDir();
    try {
      const r = await runCli(['services', 'start', '--site', s.siteFile, '--timeout', '20', '--json'], env(stateDir));
      expect(r.exitCode, r.stderr).toBe(1);
      expect(result(r).error.message).toContain(`port ${port}`);
    } finally {
      await new Promise((res) => squatter.close(res));
    }
    await resumeOnly(stateDir);
    expect(Object.values(await allRunning()).every((v) => v === 'running')).toBe(true);
  });

  it('a stale lock of a dead run is replaced, and said so in the run log', async () => {
    const stateDir = tempDir();
    const target = tempDir();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((res) => dead.on('exit', res));
    const file = lockFile(stateDir, s.siteFile);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ pid: dead.pid, host: os.hostname(), runId: 'backup-create-dead', startedAt: new Date().toISOString(), site: s.siteFile }) + '\n');
    const r = await runCli(backupArgs(target), env(stateDir));
    expect(r.exitCode, lastLine(r.stderr)).toBe(0);
    const [id] = runIds(stateDir);
    expect(fs.readFileSync(path.join(stateDir, 'runs', id, 'run.log'), 'utf8')).toContain('removing stale lock of run backup-create-dead');
    expect(journal(stateDir, id).some((l) => l.event === 'run-finish')).toBe(true);
  });
});
