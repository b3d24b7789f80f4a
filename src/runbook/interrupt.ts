// SIGINT, SIGTERM and SIGHUP during a run. The first one asks the runner to stop between steps: the steps in hand
// finish, no new step starts except the `always` ones (they restart services), the journal records it and the run
// ends with 128 + the signal's number. A second one is the operator insisting: the runner aborts at once.
import { EXIT, type ExitCode } from './errors.js';

export type RunSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export const SIGNAL_EXIT: Record<RunSignal, ExitCode> = {
  SIGHUP: EXIT.hangup,
  SIGINT: EXIT.interrupted,
  SIGTERM: EXIT.terminated,
};

const SIGNALS: RunSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Listens for the three signals while a run is in progress (install/uninstall around it). */
export class Interruption {
  signal?: RunSignal;
  private readonly handler = (sig: NodeJS.Signals) => this.receive(sig as RunSignal);

  constructor(
    private readonly onFirst: (sig: RunSignal) => void,
    private readonly onSecond: (sig: RunSignal) => void,
  ) {}

  get requested(): boolean {
    return this.signal !== undefined;
  }

  get exitCode(): ExitCode {
    return this.signal ? SIGNAL_EXIT[this.signal] : EXIT.ok;
  }

  install(): void {
    for (const s of SIGNALS) process.on(s, this.handler);
  }

  uninstall(): void {
    for (const s of SIGNALS) process.off(s, this.handler);
  }

  private receive(sig: RunSignal): void {
    // After SIGHUP the terminal is gone: a write to it fails (EIO), which must not end the run that puts the site back.
    if (sig === 'SIGHUP') for (const out of [process.stdout, process.stderr]) out.on('error', () => undefined);
    if (!this.signal) {
      this.signal = sig;
      this.onFirst(sig);
    } else this.onSecond(sig);
  }
}
