// The crash matrix: every runbook of the catalog, killed with SIGKILL at the start and in the middle of every step of
// its plan and at every named crash point on its path, then resumed with `qsadmin runs resume`; the end state must
// equal an uninterrupted run's (test/reliability/scenarios.ts says what is compared). `npm test` runs a fast subset;
// `npm run test:crash` (QSADMIN_CRASH_MATRIX=full) runs all of it and prints the summary line.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRunbooks } from '../../src/runbooks/registry.js';
import { destroySites, makeSite } from '../helpers/site.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { diffState, journal, killAndResume, killPoints, lastLine, planSteps, runCli, runIds, stepDurations, summaryLine, type CaseResult, type KillPoint } from './harness.js';
import { CERT_PASSWORD, failureText, repairSite, SCENARIOS, type CrashFixture } from './scenarios.js';

const FULL = process.env.QSADMIN_CRASH_MATRIX === 'full';
// QSADMIN_CRASH_RUNBOOKS=a,b limits a full run to some runbooks (while working on one).
const ONLY = (process.env.QSADMIN_CRASH_RUNBOOKS ?? '').split(',').filter(Boolean);
const RUNBOOKS = await builtinRunbooks();
// QSADMIN_CRASH_SLOT=N (0-9) moves the site (address and ports) so that two full runs can go side by side.
const SLOT = Number(process.env.QSADMIN_CRASH_SLOT ?? 0);

// The fast subset in `npm test` (~40 s): a stop killed as QRS stops, a backup killed at its named point (a table archive
// written, the next not yet); QSADMIN_CRASH_FAST_LONGEST=1 adds a kill in the middle of the backup's longest step.
const FAST: Record<string, (p: KillPoint, longest: string) => boolean> = {
  'services.stop': (p) => p.kind === 'start' && p.step === 'services.stop.central.QRS',
  'backup.create': (p, longest) => p.kind === 'point' || (!!process.env.QSADMIN_CRASH_FAST_LONGEST && p.kind === 'mid' && p.step === longest),
};

// Cases that fail on a known defect outside this suite, skipped by name until the fix is merged (reported as skipped,
// never counted as passed).
// (The backup resumed after its manifest, which left .parts/ in the finished set, was fixed with the immutable set:
// 45 of 45 landed kills of backup.create pass.)
const KNOWN_DEFECTS: Array<{ runbook: string; when: RegExp; defect: string }> = [];

const results: CaseResult[] = [];
let stepsTotal = 0;
let runbooksRun = 0;
const began = Date.now();
let f: CrashFixture;

beforeAll(async () => {
  const site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 47000 + SLOT * 20, baseAddress: `127.0.0.${200 + SLOT * 2}`, hostnames: ['qs-crash.matrix.test'], startServices: true });
  f = { site, work: tempDir('qsadmin-crash-'), env: { QSADMIN_CERT_PASSWORD: CERT_PASSWORD } };
});

afterAll(async () => {
  if (results.length) console.log(summaryLine(results, stepsTotal, runbooksRun, Date.now() - began));
  for (const r of results.filter((x) => !x.passed || !x.counted)) console.log(`  ${r.counted ? 'FAILED' : 'not landed'}: ${r.runbook} ${r.point.label}: ${r.why}`);
  await destroySites();
  cleanupTempDirs();
});

describe('crash matrix', () => {
  it('has a scenario for every runbook of the catalog', () => {
    expect(RUNBOOKS.length).toBeGreaterThan(0);
    expect(RUNBOOKS.filter((n) => !SCENARIOS[n]), 'add a scenario to test/reliability/scenarios.ts').toEqual([]);
  });

  const chosen = RUNBOOKS.filter((n) => SCENARIOS[n] && !SCENARIOS[n].skip && (FULL ? !ONLY.length || ONLY.includes(n) : n in FAST));
  for (const name of chosen) {
    it(`${name}: a run killed at any step and resumed ends as an uninterrupted run`, { timeout: 4 * 3_600_000 }, async () => {
      const sc = SCENARIOS[name];
      await sc.setup?.(f);
      // the reference: an uninterrupted run, which also gives the plan and each step's duration
      const refDir = tempDir('qsadmin-crash-ref-');
      const refState = path.join(refDir, 'state');
      const ref = await runCli(await sc.prepare(f, refDir), { ...f.env, QSADMIN_STATE_DIR: refState });
      expect(ref.exitCode, lastLine(ref.stderr)).toBe(0);
      const refId = runIds(refState)[0];
      const expected = await sc.endState(f, refDir);
      const steps = planSteps(refState, refId);
      const durations = stepDurations(journal(refState, refId));
      const longest = [...durations].sort((a, b) => b[1] - a[1])[0][0];
      let { points } = killPoints(steps, durations);
      if (!FULL) points = points.filter((p) => FAST[name](p, longest));
      // QSADMIN_CRASH_FROM=<step id> starts a full run at that step's kill points (while chasing one failure)
      const from = process.env.QSADMIN_CRASH_FROM ? points.findIndex((p) => p.step === process.env.QSADMIN_CRASH_FROM) : -1;
      if (from > 0) points = points.slice(from);
      stepsTotal += steps.length;
      runbooksRun++;

      const failures: string[] = [];
      for (const point of points) {
        const t = Date.now();
        const caseDir = tempDir('qsadmin-crash-case-');
        let args: string[];
        try {
          args = await sc.prepare(f, caseDir);
        } catch (err) {
          // the case before left the site so that it cannot be brought back: that case failed; repair and go on
          const prev = results[results.length - 1];
          failures.push(`after ${prev ? prev.point.label : 'the reference run'}: ${(err as Error).message}`);
          if (prev) Object.assign(prev, { passed: false, counted: true, why: `the site could not be started after it: ${(err as Error).message}` });
          await repairSite(f);
          args = await sc.prepare(f, caseDir);
        }
        const k = await killAndResume(args, f.env, path.join(caseDir, 'state'), point);
        const result: CaseResult = { runbook: name, point, counted: k.landed, passed: false, ms: 0 };
        if (!k.resumed) result.why = k.why;
        else {
          const diff = k.resumed.exitCode !== 0 ? [`resume exit ${k.resumed.exitCode}: ${failureText(k.resumed.stderr)}`] : diffState(expected, await sc.endState(f, caseDir));
          result.passed = diff.length === 0;
          if (!result.passed) {
            // a kill that landed elsewhere and then failed to resume is a failure all the same
            result.counted = true;
            result.why = [k.why, ...diff.slice(0, 8)].filter(Boolean).join('; ');
          } else if (!k.landed) result.why = k.why;
        }
        const known = !result.passed && result.counted ? KNOWN_DEFECTS.find((d) => d.runbook === name && d.when.test(result.why ?? '')) : undefined;
        if (known) {
          result.counted = false;
          result.why = `SKIPPED, known defect: ${known.defect} (${result.why?.slice(0, 200)})`;
        }
        result.ms = Date.now() - t;
        results.push(result);
        if (FULL) console.log(`${result.counted ? (result.passed ? 'passed' : 'FAILED') : 'not landed'} ${name} ${point.label} (${(result.ms / 1000).toFixed(1)} s)${result.why ? `: ${result.why}` : ''}`);
        if (result.counted && !result.passed) failures.push(`${point.label}: ${result.why}`);
        // A kill that did not land is not counted (a start kill of a step that was skipped, a mid kill that came after
        // a short step had finished); a named point that was never reached is a scenario to fix.
        if (!known && !result.counted && (!FULL || point.kind === 'point')) failures.push(`${point.label} did not land: ${result.why}`);
        fs.rmSync(caseDir, { recursive: true, force: true });
      }
      expect(failures).toEqual([]);
    });
  }
});
