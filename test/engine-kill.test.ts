// Kill -9 in the middle of a step, then `qsadmin runs resume`: the end state equals an uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, snapshotDir, tempDir } from './helpers/tmp.js';
import { qsadmin, ROOT } from './helpers/cli.js';

afterAll(cleanupTempDirs);

const SECRET = 'kill-test-secret-value';
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'run-synthetic.mjs');
const MODULES = path.join(ROOT, 'test', 'fixtures', 'synthetic-runbook.mjs');
const IGNORE = /^(executions\.log|in-slow-step|allow-.*|hold)$/;

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function runChild(stateDir: string, dir: string, slowMs: number) {
  return spawn('node', [FIXTURE, stateDir, dir, String(slowMs)], { env: { ...process.env, SYNTH_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('resume after SIGKILL', () => {
  it('finishes a run killed mid-step with the same end state as an uninterrupted run', async () => {
    // the reference: an uninterrupted run
    const refState = tempDir();
    const refDir = tempDir();
    const ref = runChild(refState, refDir, 0);
    const refCode = await new Promise((r) => ref.on('exit', r));
    expect(refCode).toBe(0);

    const stateDir = tempDir();
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'hold'), '');
    const child = runChild(stateDir, dir, 60_000);
    await waitFor(() => fs.existsSync(path.join(dir, 'in-slow-step')));
    const runId = fs.readdirSync(path.join(stateDir, 'runs'))[0];

    // while it runs, the site is locked: a second run is refused with exit 3
    const locked = await qsadmin(['runs', 'resume', runId, '--state-dir', stateDir], { env: { QSADMIN_RUNBOOK_MODULES: MODULES, SYNTH_SECRET: SECRET } });
    expect(locked.exitCode).toBe(3);
    expect(locked.stderr).toContain(`locked by run ${runId}`);

    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    fs.rmSync(path.join(dir, 'hold'));
    expect(fs.readFileSync(path.join(dir, 'c.txt'), 'utf8')).toBe('cha'); // torn by the kill

    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8');
    expect(journal).toContain('"event":"start","step":"synthetic.c"');
    expect(journal).not.toContain('"event":"finish","step":"synthetic.c"');

    const list = await qsadmin(['runs', 'list', '--json', '--state-dir', stateDir]);
    expect(list.exitCode).toBe(0);
    const listed = JSON.parse(list.stdout);
    expect(listed.runs[0]).toMatchObject({ runId, status: 'interrupted', stepsDone: 3, stepsTotal: 6 });

    const resumed = await qsadmin(['runs', 'resume', runId, '--json', '--state-dir', stateDir], {
      env: { QSADMIN_RUNBOOK_MODULES: MODULES, SYNTH_SECRET: SECRET },
    });
    expect(resumed.stderr).not.toContain(SECRET);
    expect(resumed.exitCode).toBe(0);
    const result = JSON.parse(resumed.stdout);
    expect(result.status).toBe('succeeded');
    expect(result.runId).toBe(runId);
    expect(JSON.stringify(result)).not.toContain(SECRET);

    expect(snapshotDir(dir, IGNORE)).toEqual(snapshotDir(refDir, IGNORE));
    const ex = fs.readFileSync(path.join(dir, 'executions.log'), 'utf8').trim().split('\n');
    expect(ex.filter((e) => e === 'synthetic.a')).toHaveLength(1); // finished work is not redone
    expect(ex.filter((e) => e === 'synthetic.c')).toHaveLength(2); // the killed step is re-run

    const shown = await qsadmin(['runs', 'show', runId, '--json', '--state-dir', stateDir]);
    expect(JSON.parse(shown.stdout).status).toBe('succeeded');
  });

  it('on a pseudo-terminal, a parallel step that reports progress after its sister finished does not break the renderer', () => {
    // listr2's interactive renderer drops a task's output buffer once the task is done; a shared "current task" made
    // the slow step of a parallel pair write into its finished sister ("Cannot read properties of undefined (reading
    // 'write')"), which failed the step
    const stateDir = tempDir();
    const dir = tempDir();
    const cmd = `node '${FIXTURE}' '${stateDir}' '${dir}' 0`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      env: { ...process.env, SYNTH_SECRET: SECRET, SYNTH_RENDERER: 'default', SYNTH_PROGRESS_AT: 'synthetic.b1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout).not.toContain("reading 'write'");
    expect(r.status, r.stdout.slice(-2000)).toBe(0);
  });

  it('a SIGKILLed run leaves no tool behind; Ctrl-C to the whole group lets the step\'s tool finish, exit 130, resumable', async () => {
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // SIGKILL: nothing of qsadmin runs any more, its guard ends the tool's group
    const s1 = tempDir();
    const d1 = tempDir();
    fs.writeFileSync(path.join(d1, 'hold'), '');
    const killed = spawn('node', [FIXTURE, s1, d1, '60000'], { env: { ...process.env, SYNTH_SECRET: SECRET, SYNTH_CHILD_MS: '120000' }, stdio: 'ignore' });
    await waitFor(() => fs.existsSync(path.join(d1, 'child.pid')));
    const tool = Number(fs.readFileSync(path.join(d1, 'child.pid'), 'utf8'));
    expect(alive(tool)).toBe(true);
    const gone = new Promise((r) => killed.on('exit', r));
    killed.kill('SIGKILL');
    await gone;
    await waitFor(() => !alive(tool), 10_000);

    // Ctrl-C reaches the terminal's whole process group: qsadmin and, if they shared it, its tools
    const s2 = tempDir();
    const d2 = tempDir();
    const run = spawn('node', [FIXTURE, s2, d2, '0'], { env: { ...process.env, SYNTH_SECRET: SECRET, SYNTH_CHILD_MS: '1500' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    await waitFor(() => fs.existsSync(path.join(d2, 'child.pid')));
    process.kill(-run.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(fs.readFileSync(path.join(d2, 'child.exit'), 'utf8')).toBe('0'); // the tool was not interrupted
    const result = JSON.parse(out);
    expect(result.status).toBe('interrupted');
    expect(result.error.hint).toBe(`resume with: qsadmin runs resume ${result.runId}`);
    const byId = Object.fromEntries(result.steps.map((s: { id: string; status: string }) => [s.id, s.status]));
    expect(byId).toMatchObject({ 'synthetic.c': 'succeeded', 'synthetic.d': 'not-run', 'synthetic.cleanup': 'succeeded' });
    const resumed = await qsadmin(['runs', 'resume', result.runId, '--json', '--state-dir', s2], { env: { QSADMIN_RUNBOOK_MODULES: MODULES, SYNTH_SECRET: SECRET } });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(fs.readFileSync(path.join(d2, 'd.txt'), 'utf8')).toBe('delta-content');
  }, 60_000);

  it('answers --version like oclif does, and --help lists the commands and exit codes', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const v = await qsadmin(['--version']);
    expect(v.stdout.trim()).toBe(`qsadmin/${pkg.version} ${process.platform}-${process.arch} node-${process.version}`);
    const h = await qsadmin(['--help']);
    for (const t of ['backup', 'certs', 'runs', 'services', 'demo', 'restore']) expect(h.stdout).toContain(t);
    const bh = await qsadmin(['backup', 'create', '--help']);
    expect(bh.stdout).toContain('EXIT CODES');
    expect(bh.stdout).toContain('--dry-run');
  });

  it('prints valid JSON for runs list on an empty state dir and exit 2 for an unknown run', async () => {
    const stateDir = tempDir();
    const r = await qsadmin(['runs', 'list', '--json', '--state-dir', stateDir]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ runs: [] });
    const bad = await qsadmin(['runs', 'resume', 'no-such-run', '--state-dir', stateDir]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('no run no-such-run');
    const badJson = await qsadmin(['runs', 'show', 'no-such-run', '--json', '--state-dir', stateDir]);
    expect(badJson.exitCode).toBe(2);
    expect(JSON.parse(badJson.stdout)).toMatchObject({ status: 'error', exitCode: 2 });
  });
});
