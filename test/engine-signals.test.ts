// The engine on a real terminal and under real signals, on a three-node emulated site:
// - `backup create` on a pseudo-terminal (script): listr2's interactive renderer with parallel steps;
// - `runs resume` of a run that already succeeded: nothing touched (set hashes, service pids and state files);
// - SIGTERM at a random moment of `backup create` and `restore`: every service back as it was, exit 143, the resume
//   command printed, and a journal that `runs resume` completes; both runs traced with strace (every execve with its
//   environment): the database password reaches only PostgreSQL's tools, as PGPASSWORD, and the PFX password no child.
// Ctrl-C pressed in tmux (a real terminal) and a SIGTERM of `certs import` run once in `npm test`;
// `npm run test:signals` (QSADMIN_SIGNAL_ROUNDS=N, default 3) repeats the random moments N times.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { lockDir, pidAlive } from '../src/runbook/lock.js';
import { BIN, qsadmin } from './helpers/cli.js';
import { journal } from './reliability/harness.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'signals-test-pfx-password';
const ROUNDS = Number(process.env.QSADMIN_SIGNAL_ROUNDS ?? 0);
const PG_TOOLS = new Set(['pg_dump', 'pg_restore', 'pg_dumpall', 'psql', 'createdb', 'dropdb']);
let site: EmulatedSite;
let stateDir: string;
let target: string;
let firstSet: string;
let firstRun: string;

const env = (extra: Record<string, string> = {}) => ({
  QSADMIN_STATE_DIR: stateDir,
  QSADMIN_CERT_PASSWORD: CERT_PASSWORD,
  QSADMIN_DB_PASSWORD: site.superuserPassword,
  ...extra,
});

/** name → state of every service of every node. */
async function serviceStates(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of site.site.nodes) {
    for (const s of await new EmulatedHost(site.site, n).services.list()) out[`${n.name}/${s.name}`] = s.state;
  }
  return out;
}

/** name → pid and state-file bytes of every service: a restart changes both. */
function serviceIdentity(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of site.site.nodes) {
    const dir = path.join(n.root!, '.emulator', 'services');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      out[`${n.name}/${f}`] = fs.readFileSync(path.join(dir, f), 'utf8') + fs.statSync(path.join(dir, f)).mtimeMs;
    }
  }
  return out;
}

/** sha256, size and mtime of every file under a folder. */
function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

/** Every complete line of a run's journal (none yet while the engine creates the run's folder; a torn line skipped). */
const journalEvents = (runId: string) => journal(stateDir, runId);

/** Wait until no process holds a site lock for this run (a test that failed mid-run must not leave the next one locked). */
async function lockReleased(runId: string): Promise<void> {
  const dir = lockDir();
  await waitFor(`run ${runId} to release the site lock`, () => {
    if (!fs.existsSync(dir)) return true;
    return !fs.readdirSync(dir).some((f) => {
      if (!f.endsWith('.lock')) return false;
      try {
        const l = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { runId: string; pid: number };
        return l.runId === runId && pidAlive(l.pid);
      } catch {
        return false;
      }
    });
  }, 180_000);
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The run that a command started in this state dir after `before` (the ids seen then). */
function newRun(before: Set<string>): string | undefined {
  const dir = path.join(stateDir, 'runs');
  return fs.existsSync(dir) ? fs.readdirSync(dir).find((id) => !before.has(id)) : undefined;
}

function runIds(): Set<string> {
  const dir = path.join(stateDir, 'runs');
  return new Set(fs.existsSync(dir) ? fs.readdirSync(dir) : []);
}

const cliEnv = (extra: Record<string, string> = {}) => {
  const e: Record<string, string> = { ...(process.env as Record<string, string>), NODE_ENV: 'production', ...env(extra) };
  delete e.CI; // a terminal as an operator has one: the interactive renderer
  delete e.QSADMIN_RENDERER;
  return e;
};

interface Exec {
  pid: number;
  file: string;
  argv: string;
  env: string[];
}

/** Parse strace's execve lines: `<pid> execve("file", [argv...], [env...]) = 0`. */
function parseExecs(trace: string, root: number): Exec[] {
  const out: Exec[] = [];
  for (const line of trace.split('\n')) {
    const m = /^(\d+) +execve\("([^"]*)", \[(.*?)\], \[(.*)\]\) = 0/.exec(line);
    if (!m || Number(m[1]) === root) continue; // the traced qsadmin itself has the secrets in its environment
    out.push({ pid: Number(m[1]), file: m[2], argv: m[3], env: [...m[4].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]) });
  }
  return out;
}

/** Every child of a traced run got only what it needs: the database password only pg tools, as PGPASSWORD. */
function checkSecrets(execs: Exec[], note: string): void {
  expect(execs.length, note).toBeGreaterThan(3);
  const dbPassword = site.superuserPassword;
  for (const e of execs) {
    // a PostgreSQL tool's own shell-out (pg_dumpall runs pg_dump through system()) is that tool
    const shellOfTool = path.basename(e.file) === 'sh' && [...PG_TOOLS].some((t) => new RegExp(`[/"]${t}\\b`).test(e.argv));
    const tool = shellOfTool ? 'pg_dump' : path.basename(e.file);
    expect(e.argv, `${tool} argv`).not.toContain(dbPassword);
    expect(e.argv, `${tool} argv`).not.toContain(CERT_PASSWORD);
    expect(e.env.filter((v) => v.includes(CERT_PASSWORD)), `${tool} (pid ${e.pid}) environment`).toEqual([]);
    const withDb = e.env.filter((v) => v.includes(dbPassword));
    if (PG_TOOLS.has(tool)) expect(withDb.every((v) => v === `PGPASSWORD=${dbPassword}`), `${tool} environment`).toBe(true);
    else expect(withDb, `${tool} (pid ${e.pid}, argv ${e.argv.slice(0, 300)}) environment`).toEqual([]);
  }
}

/**
 * Run `qsadmin <args>` under strace (every execve, with its environment); optionally send it a signal after a delay.
 * Resolves when qsadmin itself exits (the services it started live on: strace then lets go of them).
 */
async function traced(args: string[], signal?: { name: NodeJS.Signals; afterMs: number; once?: () => boolean }) {
  const traceFile = path.join(tempDir(), 'trace');
  const st = spawn('strace', ['-f', '--seccomp-bpf', '-e', 'trace=execve', '-v', '-s', '4096', '-o', traceFile, 'node', BIN, ...args, '--json'], {
    env: cliEnv({ CI: 'true' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stExited = new Promise((r) => st.on('exit', r)); // it may end by itself once nothing it traces is left
  let stdout = '';
  let stderr = '';
  st.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  st.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const read = () => (fs.existsSync(traceFile) ? fs.readFileSync(traceFile, 'utf8') : '');
  const root = await waitFor('strace to start qsadmin', () => Number(/^(\d+) /.exec(read())?.[1]) || undefined, 30_000);
  if (signal) {
    await waitFor('the run to start', () => signal.once?.() ?? true);
    await new Promise((r) => setTimeout(r, signal.afterMs));
    try {
      process.kill(root, signal.name);
    } catch {
      // already done
    }
  }
  const code = await waitFor('qsadmin to exit', () => {
    const m = new RegExp(`^${root}\\s+\\+\\+\\+ (exited with (\\d+)|killed by (\\w+))`, 'm').exec(read());
    return m ? { code: m[2] !== undefined ? Number(m[2]) : -1 } : undefined;
  }, 300_000);
  // strace ignores SIGTERM while it runs a command; killed, it leaves the services that qsadmin started running (the
  // kernel detaches them; none of them runs a program afterwards, which its seccomp filter would refuse)
  st.kill('SIGKILL');
  await stExited;
  return { code: code.code, stdout, stderr, execs: parseExecs(read(), root) };
}

/** Interrupt a command at a random moment of its run (after it took the lock), resume it; check the site each time. */
async function interruptAndResume(args: string[], signal: 'SIGTERM' | 'SIGINT', maxDelayMs: number) {
  const before = await serviceStates();
  const ids = runIds();
  const delay = Math.round(Math.random() * maxDelayMs);
  let runId: string | undefined;
  const r = await traced(args, { name: signal, afterMs: delay, once: () => !!(runId = newRun(ids)) });
  const note = `${args[0]} ${signal} after ${delay} ms: exit ${r.code}\n${r.stderr.slice(-2000)}`;
  console.log(`${args.slice(0, 2).join(' ')}: ${signal} after ${delay} ms, exit ${r.code}`);
  const expected = signal === 'SIGTERM' ? 143 : 130;
  // A signal after the last step finished changes nothing: the run succeeded.
  expect([0, expected], note).toContain(r.code);
  expect(await serviceStates(), note).toEqual(before);
  const execs = [...r.execs];
  if (r.code === expected) {
    expect(r.stderr, note).toContain(`qsadmin runs resume ${runId}`);
    const ev = journalEvents(runId!);
    expect(ev.some((e) => e.event === 'interrupt' && e.reason === signal), note).toBe(true);
    expect(ev.some((e) => e.event === 'run-interrupt' || e.event === 'run-fail'), note).toBe(true);
    const resumed = await traced(['runs', 'resume', runId!, '--yes']);
    expect(resumed.code, `${note}\nresume: ${resumed.stderr}`).toBe(0);
    expect(JSON.parse(resumed.stdout).status).toBe('succeeded');
    expect(await serviceStates(), note).toEqual(before);
    execs.push(...resumed.execs);
  }
  checkSecrets(execs, note);
  return { runId: runId!, code: r.code, delay, execs };
}

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ nodes: 3, layout: 'manual', size: 'tiny', portOffset: 46000, baseAddress: '127.0.0.60', startServices: true });
}, 180_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
}, 60_000);

describe('on a terminal', () => {
  it('backs up a three-node site with the interactive renderer (parallel steps) on a pseudo-terminal', async () => {
    const ids = runIds();
    const cmd = [BIN, 'backup', 'create', '--site', site.siteFile, '--to', target, '--no-logs'].map((a) => `'${a}'`).join(' ');
    let out = '';
    let code = 0;
    try {
      out = execFileSync('script', ['-qec', `node ${cmd}`, '/dev/null'], { env: cliEnv(), encoding: 'utf8', timeout: 180_000 });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      code = err.status;
      out = err.stdout;
    }
    expect(out).not.toContain("reading 'write'");
    expect(code, out.slice(-3000)).toBe(0);
    firstRun = newRun(ids)!;
    firstSet = path.join(target, fs.readdirSync(target).find((d) => fs.existsSync(path.join(target, d, 'manifest.json')))!);
  }, 200_000);

  it('resume of the succeeded run says so and touches nothing: no service restarted, not a byte of the set changed', async () => {
    const set = treeHashes(firstSet);
    const services = serviceIdentity();
    const runFiles = treeHashes(path.join(stateDir, 'runs', firstRun));
    // no password in the environment either: a finished run needs none
    const r = await qsadmin(['runs', 'resume', firstRun, '--json'], { env: { QSADMIN_STATE_DIR: stateDir } });
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ runId: firstRun, status: 'succeeded', alreadyFinished: { finishedAt: expect.any(String) } });
    const human = await qsadmin(['backup', 'create', '--site', site.siteFile, '--resume', firstRun], { env: { QSADMIN_STATE_DIR: stateDir } });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`run ${firstRun} already succeeded at \\d{4}-.*nothing was changed`));
    expect(treeHashes(firstSet)).toEqual(set);
    expect(serviceIdentity()).toEqual(services);
    const after = treeHashes(path.join(stateDir, 'runs', firstRun));
    delete after['run.log'];
    delete runFiles['run.log'];
    expect(after).toEqual(runFiles);
    expect(fs.readFileSync(path.join(stateDir, 'runs', firstRun, 'run.log'), 'utf8')).toContain('already succeeded');
  }, 60_000);

  it('--dry-run needs neither the PFX password nor --yes: it shows the plan and what a run would ask for', async () => {
    const states = await serviceStates();
    const b = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--dry-run'], { env: { QSADMIN_STATE_DIR: stateDir, QSADMIN_DB_PASSWORD: site.superuserPassword } });
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stdout).toContain('Plan for backup.create');
    expect(b.stdout).toMatch(/would ask for: the password for the exported certificate PFX files \(from QSADMIN_CERT_PASSWORD/);
    // services are running and there is no --yes: a run would refuse, the dry run shows what it would do
    const r = await qsadmin(['restore', firstSet, '--site', site.siteFile, '--dry-run'], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('Plan for restore');
    expect(await serviceStates()).toEqual(states);
  }, 60_000);

  it('Ctrl-C in tmux while the services are down: they start again, exit 130, the resume command is printed, resume completes', async () => {
    const before = await serviceStates();
    const ids = runIds();
    const sock = `qsadmin-engine-${process.pid}`;
    const dir = tempDir();
    const codeFile = path.join(dir, 'code');
    const e = cliEnv();
    const envArgs = ['QSADMIN_STATE_DIR', 'QSADMIN_CERT_PASSWORD', 'QSADMIN_DB_PASSWORD', 'QSADMIN_EMULATOR_11', 'QSADMIN_EMULATOR_NET', 'PATH', 'HOME']
      .filter((k) => e[k] !== undefined)
      .map((k) => `${k}='${e[k]}'`)
      .join(' ');
    const cmd = `env -u CI -u QSADMIN_RENDERER NODE_ENV=production ${envArgs} node '${BIN}' backup create --site '${site.siteFile}' --to '${target}' --no-logs; echo $? > '${codeFile}'; sleep 60`;
    execFileSync('tmux', ['-L', sock, 'new-session', '-d', '-x', '200', '-y', '50', '-s', 'qs', cmd]);
    let runId: string | undefined;
    try {
      runId = await waitFor('the run to start', () => newRun(ids));
      // Ctrl-C once the first services are stopped (the downtime), like an operator who changed their mind
      await waitFor('services to stop', () => journalEvents(runId).some((x) => x.event === 'finish' && x.step?.startsWith('backup.stop.')));
      execFileSync('tmux', ['-L', sock, 'send-keys', '-t', 'qs', 'C-c']);
      const code = await waitFor('the run to end', () => fs.existsSync(codeFile) && fs.readFileSync(codeFile, 'utf8').trim(), 120_000);
      const screen = execFileSync('tmux', ['-L', sock, 'capture-pane', '-p', '-J', '-S', '-300', '-t', 'qs'], { encoding: 'utf8' });
      expect(code, screen).toBe('130');
      expect(screen.replace(/\s+/g, ' ')).toContain(`qsadmin runs resume ${runId}`);
      expect(await serviceStates(), screen).toEqual(before);
      expect(journalEvents(runId).some((x) => x.event === 'interrupt' && x.reason === 'SIGINT')).toBe(true);
      const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env(), timeout: 240_000 });
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      const set = JSON.parse(resumed.stdout).outputs.backup.dir as string;
      const v = await qsadmin(['backup', 'verify', set], { env: env() });
      expect(v.exitCode, v.stderr + v.stdout).toBe(0);
      expect(await serviceStates()).toEqual(before);
    } finally {
      try {
        execFileSync('tmux', ['-L', sock, 'kill-server']);
      } catch {
        // already gone
      }
      if (runId) await lockReleased(runId);
    }
  }, 480_000);
});

describe('SIGTERM at a random moment', () => {
  it('of backup create: services as before, then resume completes; children get no secret they do not need', async () => {
    for (let i = 0; i < Math.max(1, ROUNDS); i++) {
      const r = await interruptAndResume(['backup', 'create', '--site', site.siteFile, '--to', target, '--no-logs'], 'SIGTERM', 6000);
      const tools = new Set(r.execs.map((e) => path.basename(e.file)));
      if (i === 0) expect([...tools]).toEqual(expect.arrayContaining(['pg_dump', 'zstd'])); // the run and its resume made the dumps
    }
  }, 300_000 * Math.max(1, ROUNDS));

  it('of restore: services as before (started on the restored state when past the swap), then resume completes', async () => {
    for (let i = 0; i < Math.max(1, ROUNDS); i++) {
      const r = await interruptAndResume(['restore', firstSet, '--site', site.siteFile, '--yes'], 'SIGTERM', 8000);
      const tools = new Set(r.execs.map((e) => path.basename(e.file)));
      if (i === 0) expect([...tools]).toEqual(expect.arrayContaining(['pg_restore', 'zstd', 'node'])); // node: the services it started
    }
  }, 300_000 * Math.max(1, ROUNDS));

  it('of certs import: services as before, then resume completes', async () => {
    const exported = path.join(tempDir(), 'certs');
    const ex = await qsadmin(['certs', 'export', '--site', site.siteFile, '--to', exported, '--node', 'central'], { env: env() });
    expect(ex.exitCode, ex.stderr).toBe(0);
    for (let i = 0; i < Math.max(1, ROUNDS); i++) {
      await interruptAndResume(['certs', 'import', exported, '--site', site.siteFile, '--node', 'central', '--replace', '--yes'], 'SIGTERM', 5000);
    }
  }, 300_000 * Math.max(1, ROUNDS));
});
