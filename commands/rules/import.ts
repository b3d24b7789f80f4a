import { Args, Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class RulesImport extends RunbookCommand {
  static override description = `Make the site's security rules match a folder written by \`rules export\`

Through QRS on the central node, with every service running: first a safety copy of the site's rules, custom
properties and values (in the run folder, read back and compared), then custom property definitions created or
updated by name, the values set on the streams, data connections and apps the folder names (objects that are not on
the site are reported and skipped), and the rules created or updated: default rules by seed id, the others by name.
Every update carries the rule's current modifiedDate (QRS refuses a stale one with 409; the step reads again).
--prune also deletes the custom security rules the folder does not have; never default rules, never licence or sync
rules. --dry-run prints the difference between the site and the folder and changes nothing. A run that stops can be
resumed (qsadmin runs resume <run-id>): each step works out what is left from the site itself.`;
  static override examples = [
    '<%= config.bin %> rules import ./rules --dry-run',
    '<%= config.bin %> rules import ./rules --prune --yes',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = { dir: Args.string({ description: 'the folder (rules/, custom-properties.json, values.json)', required: false }) };
  static override flags = {
    prune: Flags.boolean({ description: 'delete custom security rules that are not in the folder (destructive: needs --yes)' }),
  };

  async run(): Promise<RunResult> {
    const { flags, args } = await this.parseCommon(RulesImport);
    const { buildRulesImport } = await import('../../src/runbooks/rules-import.js');
    let inputs;
    if (flags.resume) {
      const { readPlan } = await import('../../src/cli/runs.js');
      inputs = readPlan(this.stateDir, flags.resume).inputs as never;
    } else {
      const { InputError } = await import('../../src/runbook/errors.js');
      if (!args.dir) throw new InputError('which folder? give the folder that rules export wrote', 'qsadmin rules import <dir> [--dry-run] [--prune]');
      inputs = { sitePath: this.sitePath(), dir: args.dir, prune: flags.prune || undefined };
    }
    const rb = await buildRulesImport(inputs, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    return this.execute(rb, flags);
  }
}
