import path from 'node:path';
import { Args } from '@oclif/core';
import { QsadminCommand } from '../../src/cli/base.js';
import type { Finding } from '../../src/rules/lint.js';

const HELP = `FINDINGS
  syntax            the condition does not parse (error)
  wildcard-equals   = with a * value: a wildcard needs like (error)
  unknown-property  @name that custom-properties.json does not define (error)
  unknown-function  a function other than Empty(), HasPrivilege(), IsAnonymous() (error)
  filter-uncovered  a branch tests a resource type (resource.resourcetype, resource.objectType) that the resource
                    filter does not cover (error)
  filter-unmatched  resource filter entries that no branch's resource type matches (warning)
  no-user-term      a branch with no user.* term: it grants the actions to every user (warning)
  always-true       the condition, or a branch of it, is always true (warning)
  redundant         another enabled rule already grants all this rule grants; rules only grant, never deny (warning)
  disabled          the rule is disabled (info)

EXIT CODES
  0  no errors or warnings (information only)
  2  bad input (not a rules folder, a file that is not valid JSON)
  4  errors or warnings found`;

interface LintResult {
  dir: string;
  rules: number;
  findings: Finding[];
}

export default class RulesLint extends QsadminCommand {
  static override description = `Check a folder of security rules: the condition language and the resource filters together

Parses each condition as Qlik's rules use it: parentheses, double-quoted strings, and / or / !, = (which means
"contains" between multi-valued operands such as user.group and resource.@GroupAccess), like (required for *
wildcards), AND binding tighter than OR, case-insensitive names, user.* and resource.* paths
(resource.app.stream.@X), custom properties @name, Empty(), HasPrivilege("read"), IsAnonymous(),
resource.resourcetype and resource.objectType. Each finding names the rule and, where it has one, the line and column
in the rule file's condition. Custom properties are checked against the folder's custom-properties.json.`;
  static override examples = ['<%= config.bin %> rules lint ./rules', '<%= config.bin %> rules lint ./rules --json'];
  static override help = HELP;
  static override args = { dir: Args.string({ description: 'the folder (rules/*.json, custom-properties.json)', required: true }) };

  async run(): Promise<LintResult> {
    const { args } = await this.parseCommon(RulesLint);
    const { readSet } = await import('../../src/rules/model.js');
    const { lintRules } = await import('../../src/rules/lint.js');
    const dir = path.resolve(args.dir);
    const set = readSet(dir);
    const findings = lintRules(set.rules, set.hasDefinitions ? set.definitions : undefined);
    const lines = findings.map((f) => `${f.severity.padEnd(7)} ${f.rule}${f.line ? `:${f.line}:${f.col}` : ''}  ${f.code}: ${f.message}`);
    const counts = (['error', 'warning', 'info'] as const).map((s) => {
      const n = findings.filter((f) => f.severity === s).length;
      return `${n} ${s}${s === 'info' || n === 1 ? '' : 's'}`;
    }).join(', ');
    this.say([...lines, `${set.rules.length} rules in ${dir}: ${counts}${set.hasDefinitions ? '' : ' (no custom-properties.json: custom property names not checked)'}`].join('\n'));
    process.exitCode = findings.some((f) => f.severity !== 'info') ? 4 : 0;
    return { dir, rules: set.rules.length, findings };
  }
}
