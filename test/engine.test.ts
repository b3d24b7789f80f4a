// The runbook engine on synthetic runbooks: order, skip by check, resume, dry run, lock, secrets, confirmation.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { runRunbook } from '../src/runbook/runner.js';
import { acquireLock, lockFile } from '../src/runbook/lock.js';
import { EXIT } from '../src/runbook/errors.js';
import { buildSynthetic } from './fixtures/synthetic-runbook.mjs';
import { parseAge, pruneRuns } from '../src/cli/runs.js';
import { qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const SECRET = 'S3cr3t-Pa55w0rd-xyz';

function setup() {
  const stateDir = tempDir();
  const dir = tempDir();
  return { stateDir, dir, executions: () => fs.readFileSync(path.join(dir, 'executions.log'), 'utf8').trim().split('\n') };
}

describe('runbook engine', () => {
  it('runs steps in order, parallel group inside, and records the journal', async () => {
    const { stateDir, dir, executions } = setup();
    const rb = await buildSynthetic({ dir, secret: SECRET });
    const r = await runRunbook(rb, { stateDir, renderer: 'silent' });
    expect(r.status).toBe('succeeded');
    expect(r.exitCode).toBe(0);
    const ex = executions();
    expect(ex[0]).toBe('synthetic.a');
    expect(ex.slice(1, 3).sort()).toEqual(['synthetic.b1', 'synthetic.b2']);
    expect(ex.slice(3)).toEqual(['synthetic.c', 'synthetic.d']);
    expect(fs.readFileSync(path.join(dir, 'd.txt'), 'utf8')).toBe('delta-content');
    const journal = fs.readFileSync(path.join(r.runDir!, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(journal[0].event).toBe('run-start');
    expect(journal.at(-1).event).toBe('run-finish');
    expect(journal.filter((e) => e.event === 'finish').map((e) => e.step)).toContain('synthetic.c');
    const plan = JSON.parse(fs.readFileSync(path.join(r.runDir!, 'plan.json'), 'utf8'));
    expect(plan.steps.map((s: { id: string }) => s.id)).toEqual(['synthetic.a', 'synthetic.b1', 'synthetic.b2', 'synthetic.c', 'synthetic.d', 'synthetic.cleanup']);
    expect(r.steps.every((s) => s.status === 'succeeded')).toBe(true);
  });

  it('skips steps whose check holds on a re-run', async () => {
    const { stateDir, dir, executions } = setup();
    await runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent' });
    const before = executions().length;
    const r2 = await runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent' });
    expect(r2.status).toBe('succeeded');
    expect(executions().length).toBe(before);
    expect(r2.steps.find((s) => s.id === 'synthetic.c')!.status).toBe('skipped');
    expect(r2.steps.find((s) => s.id === 'synthetic.c')!.reason).toBe('already done');
  });

  it('fails with exit 1, still runs "always" steps, and resumes from the failed step', async () => {
    const { stateDir, dir, executions } = setup();
    const rb = await buildSynthetic({ dir, secret: SECRET, failAt: 'synthetic.c' });
    const r = await runRunbook(rb, { stateDir, renderer: 'silent' });
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(EXIT.stepFailed);
    expect(r.error!.step).toBe('synthetic.c');
    expect(r.error!.hint).toContain(`qsadmin runs resume ${r.runId}`);
    expect(r.steps.find((s) => s.id === 'synthetic.d')!.status).toBe('not-run');
    expect(fs.existsSync(path.join(dir, 'd.txt'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'always-ran'))).toBe(true);

    fs.writeFileSync(path.join(dir, 'allow-synthetic.c'), '');
    const r2 = await runRunbook(await buildSynthetic({ dir, secret: SECRET, failAt: 'synthetic.c' }), { stateDir, renderer: 'silent', resume: r.runId });
    expect(r2.status).toBe('succeeded');
    expect(r2.runId).toBe(r.runId);
    expect(executions().filter((e) => e === 'synthetic.a')).toHaveLength(1);
    expect(executions().filter((e) => e === 'synthetic.c')).toHaveLength(2);
    expect(r2.steps.find((s) => s.id === 'synthetic.a')!.reason).toContain('earlier attempt');
    expect(fs.readFileSync(path.join(dir, 'd.txt'), 'utf8')).toBe('delta-content');
  });

  it('refuses to resume a run with a different runbook or unknown id', async () => {
    const { stateDir, dir } = setup();
    const r = await runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent' });
    const other = await buildSynthetic({ dir, secret: SECRET });
    other.name = 'test.other';
    await expect(runRunbook(other, { stateDir, renderer: 'silent', resume: r.runId })).rejects.toThrow(/is a test.synthetic run/);
    await expect(runRunbook(other, { stateDir, renderer: 'silent', resume: 'nope-123' })).rejects.toThrow(/no run nope-123/);
  });

  it('throttles progress without a terminal: not a line per update, but one per tenth when the step knows the fraction', async () => {
    const lines = async (fraction: boolean) => {
      const { stateDir, dir } = setup();
      const rb = await buildSynthetic({ dir, secret: SECRET, progressAt: 'synthetic.a', progressFraction: fraction });
      const written: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
      try {
        expect((await runRunbook(rb, { stateDir, renderer: 'simple' })).status).toBe('succeeded');
      } finally {
        process.stderr.write = write;
      }
      return written.join('').split('\n').filter((l) => /progress \d+/.test(l)).length;
    };
    const plain = await lines(false);
    expect(plain).toBeGreaterThanOrEqual(1); // the first update shows
    expect(plain).toBeLessThanOrEqual(2); // 100 updates in well under PROGRESS_INTERVAL_MS
    const tenths = await lines(true);
    expect(tenths).toBeGreaterThanOrEqual(10);
    expect(tenths).toBeLessThanOrEqual(12);
  });

  it('dry run returns the plan and touches nothing', async () => {
    const { stateDir, dir } = setup();
    const r = await runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent', dryRun: true });
    expect(r.status).toBe('planned');
    expect(r.steps.map((s) => s.id)).toContain('synthetic.cleanup');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });

  it('refuses a second run on a locked site (exit 3) and replaces a stale lock', async () => {
    const { stateDir, dir } = setup();
    const site = `synthetic-site:${dir}`;
    const release = acquireLock(site, 'holder-run');
    await expect(runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent' })).rejects.toMatchObject({
      exitCode: EXIT.locked,
      message: expect.stringContaining('locked by run holder-run'),
    });
    expect(fs.existsSync(path.join(dir, 'a.txt'))).toBe(false);
    release();

    // a lock left by a process that no longer exists
    const dead = spawnSync('true').pid!;
    const lf = lockFile(site);
    fs.writeFileSync(lf, JSON.stringify({ pid: dead, host: (await import('node:os')).hostname(), runId: 'dead-run', startedAt: new Date().toISOString(), site }));
    const r = await runRunbook(await buildSynthetic({ dir, secret: SECRET }), { stateDir, renderer: 'silent' });
    expect(r.status).toBe('succeeded');
    expect(fs.readFileSync(path.join(r.runDir!, 'run.log'), 'utf8')).toContain('removing stale lock of run dead-run');
    expect(fs.existsSync(lf)).toBe(false);
  });

  it('never writes secrets to the plan, journal, log, outputs or result', async () => {
    const { stateDir, dir } = setup();
    const r = await runRunbook(await buildSynthetic({ dir, secret: SECRET, failAt: 'synthetic.c' }), { stateDir, renderer: 'silent' });
    expect(r.status).toBe('failed');
    const files = ['plan.json', 'journal.jsonl', 'run.log', 'outputs.json'].map((f) => fs.readFileSync(path.join(r.runDir!, f), 'utf8'));
    for (const text of [...files, JSON.stringify(r)]) expect(text).not.toContain(SECRET);
    expect(files[2]).toContain('password ***'); // the log line is kept, the value redacted
    expect(r.error!.message).toContain('***');
  });

  it('needs --yes (or a confirmation) for destructive steps, and changes nothing without it', async () => {
    const { stateDir, dir } = setup();
    const rb = await buildSynthetic({ dir, secret: SECRET });
    (rb.items[0] as { destructive?: boolean }).destructive = true;
    await expect(runRunbook(rb, { stateDir, renderer: 'silent' })).rejects.toMatchObject({ exitCode: EXIT.badInput, hint: expect.stringContaining('--yes') });
    expect(fs.readdirSync(dir)).toEqual([]);
    await expect(runRunbook(rb, { stateDir, renderer: 'silent', confirm: async () => false })).rejects.toThrow(/cancelled/);
    const r = await runRunbook(rb, { stateDir, renderer: 'silent', yes: true });
    expect(r.status).toBe('succeeded');
  });

  it('prunes old runs by rule: keeps resumable ones unless --all, and safety dumps unless told; dry run removes nothing', async () => {
    const stateDir = tempDir();
    const ok = await runRunbook(await buildSynthetic({ dir: tempDir(), secret: SECRET }), { stateDir, renderer: 'silent' });
    const failed = await runRunbook(await buildSynthetic({ dir: tempDir(), secret: SECRET, failAt: 'synthetic.c' }), { stateDir, renderer: 'silent' });
    const safe = await runRunbook(await buildSynthetic({ dir: tempDir(), secret: SECRET }), { stateDir, renderer: 'silent' });
    fs.mkdirSync(path.join(safe.runDir!, 'safety'));
    fs.writeFileSync(path.join(safe.runDir!, 'safety', 'QSR.dump.zst'), 'dump');
    const later = new Date(Date.now() + 31 * 86_400_000);
    const exists = (r: { runDir?: string }) => fs.existsSync(r.runDir!);

    expect(pruneRuns(stateDir, { olderThanMs: parseAge('30d') }).removed).toEqual([]); // nothing is 30 days old yet
    const dry = pruneRuns(stateDir, { olderThanMs: parseAge('30d'), now: later, dryRun: true });
    expect(dry.removed.map((x) => x.runId)).toEqual([ok.runId]);
    expect(exists(ok)).toBe(true);
    const r = pruneRuns(stateDir, { olderThanMs: parseAge('30d'), now: later });
    expect(r.removed.map((x) => x.runId)).toEqual([ok.runId]);
    expect(r.kept.map((x) => x.reason).join('\n')).toMatch(/failed: it can be resumed[\s\S]*holds safety dumps|holds safety dumps[\s\S]*failed: it can be resumed/);
    expect([exists(ok), exists(failed), exists(safe)]).toEqual([false, true, true]);
    pruneRuns(stateDir, { olderThanMs: parseAge('4w'), now: later, all: true, safetyDumps: true });
    expect([exists(failed), exists(safe)]).toEqual([false, false]);

    const bad = await qsadmin(['runs', 'prune', '--older-than', '30 days', '--state-dir', stateDir]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not an age.*\n.*12h, 30d or 8w/);
    const json = await qsadmin(['runs', 'prune', '--older-than', '30d', '--json', '--state-dir', stateDir]);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ removed: [], kept: [], dryRun: false });
  });
});
