// After qsadmin died mid-run (SIGKILL, a crash, an out-of-memory kill), its guard process (reaper-main) starts the
// services the run had stopped, so that the site is not left down until someone resumes the run.
//
// - Which: from the run's journal, each registered service whose stop step began after its start step last finished
//   (a stop that its check skipped means the service was already stopped before the run: it stays stopped).
// - Order: the registration's order, which is the guide's start order (central first, QSD, QRS, then the rest).
// - Under the site lock, taken for the run's id (the dead process's lock is stale): a resume started meanwhile holds
//   the lock, and then the resume brings the site back instead; the guard leaves it alone.
// - Recorded: a `guard-start` journal event and lines in run.log. A resume then re-checks every step: the stop steps
//   find the services running and stop them again, and the capture is taken again (its capture id changes).
// No secret is needed or seen: starting a service takes none, and the guard's environment has none (children.ts).
import type { GuardRecovery } from './children.js';
import { flushSyncs } from './fsutil.js';
import { RunJournal, type JournalEvent } from './journal.js';
import { acquireLock } from './lock.js';
import { Redactor } from './redact.js';

/** The services to start again: stop begun, start not finished; none when the run ended in its own process. */
export function servicesToRecover(r: Pick<GuardRecovery, 'services'>, ev: Array<Pick<JournalEvent, 'event' | 'step' | 'services'>>): GuardRecovery['services'] {
  const last = ev.filter((e) => e.event.startsWith('run-')).pop();
  // run-finish, run-fail and run-interrupt are written after the run's own start steps ran; run-abort is not
  if (last && last.event !== 'run-start' && last.event !== 'run-abort') return [];
  // over every attempt of the run (a resume appends to the journal): what happened last to each service
  return r.services.filter((s) => {
    let stopped = false;
    for (const e of ev) {
      if (e.event === 'start' && e.step === s.stopStep) stopped = true;
      else if (e.event === 'finish' && e.step === s.startStep) stopped = false;
      else if (e.event === 'guard-start' && e.services?.includes(`${s.node}/${s.service}`)) stopped = false;
    }
    return stopped;
  });
}

export async function recoverAfterKill(r: GuardRecovery): Promise<void> {
  // the run's own journal and log, as the runner writes them (nothing the guard writes holds a secret)
  const journal = new RunJournal(r.runDir, new Redactor());
  const log = (line: string) => journal.log(`guard: ${line}`);
  if (!servicesToRecover(r, journal.events()).length) return;
  let release: () => void;
  try {
    release = acquireLock(r.lockKey, r.runId, { dir: r.lockDir, guard: true, guardWaitMs: 0, deadPid: r.pid });
  } catch (e) {
    log(`qsadmin died with services stopped, but the site lock is held (${(e as Error).message}): the run that holds it brings them back`);
    return;
  }
  const done: string[] = [];
  try {
    // again under the lock: a resume may have run in between
    const todo = servicesToRecover(r, journal.events());
    if (!todo.length) return;
    log(`qsadmin died mid-run with services stopped: starting ${todo.map((s) => `${s.node}/${s.service}`).join(', ')}; then resume with: qsadmin runs resume ${r.runId}`);
    const { loadSiteConfig } = await import('../site/config.js');
    const { openHost } = await import('../host/index.js');
    const site = loadSiteConfig(r.sitePath);
    const hosts = new Map<string, Awaited<ReturnType<typeof openHost>>>();
    try {
      for (const s of todo) {
        try {
          if (!hosts.has(s.node)) hosts.set(s.node, await openHost(site, s.node));
          const h = hosts.get(s.node)!;
          const name = s.service as Parameters<typeof h.services.start>[0];
          if ((await h.services.status(name)).state !== 'running') await h.services.start(name, { timeoutMs: 120_000 });
          done.push(`${s.node}/${s.service}`);
        } catch (e) {
          // one service that does not start must not keep the others down
          log(`could not start ${s.service} on ${s.node}: ${(e as Error).message}`);
        }
      }
    } finally {
      for (const h of hosts.values()) await h.close().catch(() => undefined);
    }
    journal.record({ event: 'guard-start', services: done });
    log(`started again: ${done.join(', ') || 'none'}`);
    await flushSyncs(); // the guard exits next: the journal line is on disk first
  } finally {
    release();
  }
}
