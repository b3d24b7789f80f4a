import path from 'node:path';
import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';

interface ExportResult {
  dir: string;
  rules: number;
  customProperties: number;
  objectsWithValues: number;
  defaultRulesLeftOut: number;
  unknownDefaultRules: string[];
  files: string[];
}

export default class RulesExport extends QsadminCommand {
  static override description = `Export the site's security rules as files, one per rule, for review and promotion

Reads QRS on the central node (/qrs/systemrule/full, category Security) and writes rules/<name>.json per rule: name,
description, resource filter, actions by name, the condition pretty-printed (one line per "or" branch), context
(both, hub, qmc) and disabled. No ids and no dates, so exports of two sites compare. Custom rules are exported, and
default rules that were edited (matched on another site by their seed id); --include-defaults exports every default
rule. custom-properties.json holds the custom property definitions (name, choice values, object types), values.json
the values on each stream, data connection and app that has some (and the apps of streams that have some).
The folder's rules/ is rewritten: a rule that is gone from the site does not stay behind as a file.`;
  static override examples = [
    '<%= config.bin %> rules export --to ./rules',
    '<%= config.bin %> rules export --to ./rules --include-defaults --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'folder to write [default: ./rules-<site name>]' }),
    category: Flags.string({ description: 'rule category to export', options: ['security'], default: 'security' }),
    'include-defaults': Flags.boolean({ description: 'export every default rule, not only the edited ones' }),
  };

  async run(): Promise<ExportResult> {
    const { flags } = await this.parseCommon(RulesExport);
    const site = await this.site();
    const dir = path.resolve(flags.to ?? `rules-${site.name}`);
    const { openLiveSite, readLive, liveRuleSet } = await import('../../src/runbooks/rules-source.js');
    const { writeSet } = await import('../../src/rules/model.js');
    const live = await openLiveSite(this.sitePath(), 'qsadmin rules export');
    let set;
    try {
      set = liveRuleSet(await readLive(live.qrs), { category: flags.category, includeDefaults: flags['include-defaults'] });
    } finally {
      await live.close();
    }
    const files = writeSet(dir, set);
    const r: ExportResult = {
      dir,
      rules: set.rules.length,
      customProperties: set.definitions.length,
      objectsWithValues: set.values.streams.length + set.values.dataConnections.length + set.values.apps.length,
      defaultRulesLeftOut: set.skippedDefaults,
      unknownDefaultRules: set.unknownDefaults,
      files,
    };
    this.say([
      `${r.rules} security rules, ${r.customProperties} custom properties and the values of ${r.objectsWithValues} objects exported to ${dir}`,
      ...(r.defaultRulesLeftOut ? [`${r.defaultRulesLeftOut} unedited default rules left out (--include-defaults exports them)`] : []),
      ...(r.unknownDefaultRules.length ? [`default rules whose seed id qsadmin does not know, left out (--include-defaults exports them): ${r.unknownDefaultRules.join(', ')}`] : []),
    ].join('\n'));
    return r;
  }
}
