import { Args, Flags } from '@oclif/core';
import { QsadminCommand } from '../../src/cli/base.js';
import type { Change } from '../../src/rules/diff.js';

const HELP = `EXIT CODES
  0  no differences
  2  bad input (a source that does not exist or is not a site config, export folder or backup set)
  4  the two differ`;

interface DiffResult {
  a: string;
  b: string;
  same: boolean;
  changes: Change[];
}

export default class RulesDiff extends QsadminCommand {
  static override description = `Compare the security rules of two sources: live sites, export folders or backup sets, in any pairing

Each of A and B is a site config file (site.json: the live site, read through QRS), a folder written by \`rules
export\`, or a backup set (folder or .tar: its QSR tables SystemRules, CustomPropertyDefinitions, CustomPropertyValues,
Streams, DataConnections and Apps are read out of the dump without restoring it). Rules are matched by seed id
(default rules) or name. From a site or a backup, custom rules and edited default rules are compared
(--include-defaults: every default rule).`;
  static override examples = [
    '<%= config.bin %> rules diff ./rules-test ./rules-prod',
    '<%= config.bin %> rules diff /backups/20261126T020000123Z ./site.json --json',
  ];
  static override help = HELP;
  static override args = {
    a: Args.string({ description: 'site config, export folder or backup set', required: true }),
    b: Args.string({ description: 'site config, export folder or backup set', required: true }),
  };
  static override flags = {
    'include-defaults': Flags.boolean({ description: 'from a site or a backup, compare every default rule' }),
  };

  async run(): Promise<DiffResult> {
    const { args, flags } = await this.parseCommon(RulesDiff);
    const { loadRuleSet } = await import('../../src/runbooks/rules-source.js');
    const { diffSets, formatChanges } = await import('../../src/rules/diff.js');
    const o = { includeDefaults: flags['include-defaults'] };
    const a = await loadRuleSet(args.a, o);
    const b = await loadRuleSet(args.b, o);
    const changes = diffSets(a.set, b.set);
    this.say(formatChanges(changes, { a: a.label, b: b.label }));
    process.exitCode = changes.length ? 4 : 0;
    return { a: a.label, b: b.label, same: changes.length === 0, changes };
  }
}
