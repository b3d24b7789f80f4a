// Which services the guard of a killed run starts again (src/runbook/kill-recovery.ts), from the run's journal.
import { describe, expect, it } from 'vitest';
import { servicesToRecover } from '../src/runbook/kill-recovery.js';

const services = ['QSD', 'QRS', 'QPS'].flatMap((abbr) =>
  ['central', 'rim1'].map((node) => ({ node, service: `svc-${abbr}`, stopStep: `backup.stop.${node}.${abbr}`, startStep: `backup.start.${node}.${abbr}` })),
);
const names = (ev: Array<{ event: string; step?: string; services?: string[] }>) => servicesToRecover({ services }, ev).map((s) => `${s.node}/${s.service}`);

describe('servicesToRecover', () => {
  it('starts what this run began to stop and did not start again, in the registered order', () => {
    const ev = [
      { event: 'run-start' },
      { event: 'start', step: 'backup.stop.rim1.QPS' },
      { event: 'finish', step: 'backup.stop.rim1.QPS' },
      { event: 'skip', step: 'backup.stop.rim1.QRS' }, // already stopped before the run: it stays stopped
      { event: 'start', step: 'backup.stop.central.QPS' },
      { event: 'finish', step: 'backup.stop.central.QPS' },
      { event: 'start', step: 'backup.stop.central.QRS' }, // killed inside this stop
    ];
    expect(names(ev)).toEqual(['central/svc-QRS', 'central/svc-QPS', 'rim1/svc-QPS']);
  });

  it('leaves alone what the run itself started again, and everything once the run ended in its own process', () => {
    const base = [
      { event: 'run-start' },
      { event: 'start', step: 'backup.stop.central.QPS' },
      { event: 'finish', step: 'backup.stop.central.QPS' },
      { event: 'start', step: 'backup.stop.central.QRS' },
      { event: 'finish', step: 'backup.stop.central.QRS' },
      { event: 'start', step: 'backup.start.central.QRS' },
      { event: 'finish', step: 'backup.start.central.QRS' },
    ];
    expect(names(base)).toEqual(['central/svc-QPS']);
    for (const end of ['run-finish', 'run-fail', 'run-interrupt']) expect(names([...base, { event: end }])).toEqual([]);
    // a second Ctrl-C aborts at once, before the start steps: the guard starts them
    expect(names([...base, { event: 'run-abort' }])).toEqual(['central/svc-QPS']);
  });

  it('reads every attempt of a resumed run: the guard\'s own starts count, a later stop counts again', () => {
    const ev = [
      { event: 'run-start' },
      { event: 'start', step: 'backup.stop.central.QPS' },
      { event: 'finish', step: 'backup.stop.central.QPS' },
      { event: 'guard-start', services: ['central/svc-QPS'] },
      { event: 'run-start' },
    ];
    expect(names(ev)).toEqual([]);
    expect(names([...ev, { event: 'start', step: 'backup.stop.central.QPS' }])).toEqual(['central/svc-QPS']);
  });
});
