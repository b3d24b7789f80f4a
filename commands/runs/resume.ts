import { Args } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { InputError } from '../../src/runbook/errors.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class RunsResume extends RunbookCommand {
  static override description = `Resume an interrupted or failed run where it stopped

Finished steps are skipped when their check still holds, the failed step is retried, and a step that was
running when the process died is re-run after its check. The result equals an uninterrupted run.
A run that already succeeded is not run again: resume says when it finished and exits 0, touching nothing.
Secrets are not kept in the run: supply them again through the same environment variables.`;
  static override examples = ['<%= config.bin %> runs resume backup-create-20261126T020000Z-1a2b3c --yes'];
  static override help = EXIT_CODES_HELP;
  static override args = { id: Args.string({ description: 'run id (see `qsadmin runs list`)', required: true }) };

  async run(): Promise<RunResult> {
    const { args, flags } = await this.parseCommon(RunsResume);
    const { readPlan } = await import('../../src/cli/runs.js');
    const plan = readPlan(this.stateDir, args.id);
    if (flags.resume && flags.resume !== args.id) throw new InputError('give the run id once: as the argument of `runs resume`');
    await this.refuseReplay(args.id); // a finished run is never replayed: before the runbook is even built
    const { builderFor } = await import('../../src/runbooks/registry.js');
    const build = await builderFor(plan.runbook);
    const rb = await build(plan.inputs, { stateDir: this.stateDir, interactive: this.interactive() });
    return this.execute(rb, { ...flags, resume: args.id });
  }
}
