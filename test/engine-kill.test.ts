// Kill -9 in the middle of a step, then `qsadmin runs resume`: the end state equals an uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
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
