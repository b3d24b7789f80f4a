// Security rules as code without a site (issue #20): the condition parser (positions, precedence, the seeds' forms),
// lint on the customer case's six rules verbatim (exactly the three findings the issue lists) and on the corrected demo
// set (none), and audit of the demo set for alice, bob and carol, through the CLI.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCondition, prettyLines, ConditionSyntaxError } from '../src/rules/parser.js';
import { lintRule } from '../src/rules/lint.js';
import { ROOT, qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import type { RuleFile } from '../src/rules/model.js';

const CASE = path.join(ROOT, 'templates', 'rules', 'customer-case');
const DEMO = path.join(ROOT, 'templates', 'rules', 'demo');

afterAll(() => cleanupTempDirs());

async function json(args: string[]) {
  const r = await qsadmin([...args, '--json'], { env: { QSADMIN_STATE_DIR: tempDir() } });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

const rule = (condition: string, resourceFilter = ['Stream_*'], extra: Partial<RuleFile> = {}): RuleFile => ({
  name: 'R', description: '', category: 'Security', resourceFilter, actions: ['Read'], condition: [condition], context: 'both', disabled: false, ...extra,
});

describe('condition parser', () => {
  it('binds AND tighter than OR, keeps paths, @properties and calls, and prints one line per or-branch', () => {
    const c = parseCondition('a.x = "1" OR resource.resourcetype="App" AND user.group = resource.stream.@AdminGroup or !user.IsAnonymous()');
    expect(c?.kind).toBe('or');
    expect(prettyLines(c)).toEqual([
      'a.x = "1"',
      'or (resource.resourcetype = "App" and user.group = resource.stream.@AdminGroup)',
      'or !user.IsAnonymous()',
    ]);
    // printing is stable: what it prints parses to the same print
    expect(prettyLines(parseCondition(prettyLines(c).join('\n')))).toEqual(prettyLines(c));
    expect(prettyLines(parseCondition('(a = b or c = d) and e like "x*"'))).toEqual(['(a = b or c = d) and e like "x*"']);
  });

  it('reports syntax errors with their offset', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['user.group = "role_admin', 13, /unterminated string/],
      ['((user.group="x")', 17, /expected '\)'/],
      ['user.group "x"', 11, /expected =, like or != after user.group/],
      ['user.group = "x" and', 20, /expected a value/],
      ['user.group = "x" # 1', 17, /unexpected character '#'/],
      ['resource.@ = "x"', 11, /custom property name after @/],
    ];
    for (const [text, offset, msg] of cases) {
      let err: unknown;
      try {
        parseCondition(text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(ConditionSyntaxError);
      expect((err as ConditionSyntaxError).offset, text).toBe(offset);
      expect((err as Error).message, text).toMatch(msg);
    }
  });

  it('lint: = with a * wildcard (the seed\'s own Example 4) is a finding; like is not; line and column are given', () => {
    const eq = lintRule(rule('user.name = "x" and\nenvironment.browser = Chrome*'), undefined);
    expect(eq.map((f) => [f.code, f.line, f.col])).toEqual([['wildcard-equals', 2, 23]]);
    expect(lintRule(rule('user.name = "x" and environment.browser like Chrome*'), undefined)).toEqual([]);
    const syntax = lintRule(rule('user.group = "a" and\n(user.group = "b"'), undefined);
    expect(syntax.map((f) => [f.code, f.line, f.col])).toEqual([['syntax', 2, 18]]);
  });

  it('lint: always true, unknown property and function, disabled as information, redundant rules', async () => {
    expect(lintRule(rule('user.name like "*"'), undefined).map((f) => f.code)).toEqual(['always-true']);
    expect(lintRule(rule(''), undefined).map((f) => f.code)).toEqual(['always-true']);
    const defs = [{ name: 'GroupAccess', description: '', valueType: 'Text', choiceValues: [], objectTypes: ['Stream'] }];
    expect(lintRule(rule('user.group = resource.@groupaccess or user.group = resource.@Nope'), defs).map((f) => [f.code, f.col])).toEqual([['unknown-property', 52]]);
    expect(lintRule(rule('user.Foo()'), undefined).map((f) => f.code)).toEqual(['unknown-function']);
    expect(lintRule(rule('user.name = "x"', ['Stream_*'], { disabled: true }), undefined).map((f) => [f.code, f.severity])).toEqual([['disabled', 'info']]);
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'rules'));
    const write = (n: string, r: RuleFile) => fs.writeFileSync(path.join(dir, 'rules', `${n}.json`), JSON.stringify(r));
    write('a', rule('user.group = "g"', ['Stream_*', 'App_*'], { name: 'Broad', actions: ['Read', 'Update'] }));
    write('b', rule('user.group="g"', ['Stream_*'], { name: 'Narrow' }));
    const r = await json(['rules', 'lint', dir]);
    expect(r.exitCode).toBe(4);
    expect(r.json.findings.map((f: { rule: string; code: string }) => `${f.rule} ${f.code}`)).toEqual(['Narrow redundant']);
  });
});

describe('rules lint on the customer case (seed 004)', () => {
  it('the six rules verbatim: exactly the three findings of the issue', async () => {
    const r = await json(['rules', 'lint', CASE]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.json.rules).toBe(6);
    const f = r.json.findings as Array<{ rule: string; code: string; message: string }>;
    expect(f.map((x) => `${x.rule} ${x.code}`)).toEqual(['CreateAppObjectsPublishedApp filter-uncovered', 'TeamAdminRead filter-unmatched', 'TeamAdminRead no-user-term']);
    expect(f[0].message).toMatch(/does not cover App\.Object \(its condition tests resource\.objectType/);
    expect(f[1].message).toMatch(/entries Stream\* and CustomProperty\* match no branch/);
    expect(f[2].message).toMatch(/4 branches \(SchemaEvent, CompositeEvent, Tag and ExecutionResult\) have no user term: every user gets Read and Update/);
    // the fixture keeps the page's text: one line, the page's spacing
    const tar = JSON.parse(fs.readFileSync(path.join(CASE, 'rules', 'TeamAdminRead.json'), 'utf8'));
    expect(tar.condition).toEqual(['( (resource.resourcetype="App" and user.group = resource.stream.@AdminGroup) or (resource.resourcetype="App.Object" and user.group = resource.app.stream.@AdminGroup) or (resource.resourcetype="ReloadTask" and resource.app.stream.@AdminGroup = user.group) or (resource.resourcetype="DataConnection" and resource.@AdminGroup = user.group) or resource.resourcetype ="SchemaEvent" or resource.resourcetype ="CompositeEvent" or resource.resourcetype = "Tag" or resource.resourcetype ="ExecutionResult" )']);
  });

  it('the corrected demo set lints clean (exit 0)', async () => {
    const r = await json(['rules', 'lint', DEMO]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.findings).toEqual([]);
  });

  it('a folder that is not a rules folder, or a broken rule file, is bad input (exit 2)', async () => {
    expect((await json(['rules', 'lint', tempDir()])).exitCode).toBe(2);
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'rules'));
    fs.writeFileSync(path.join(dir, 'rules', 'x.json'), JSON.stringify({ name: 'X', resourceFilter: ['App_*'], actions: ['Fly'], condition: ['user.name = "a"'] }));
    const r = await json(['rules', 'lint', dir]);
    expect(r.exitCode).toBe(2);
    expect(r.json.error.message).toMatch(/unknown action "Fly"/);
  });
});

describe('rules audit of the demo set, with only its rules', () => {
  const who = { alice: 'role_admin,proj1_admin', bob: 'role_dev,proj1_dev', carol: 'proj1_aud1' } as const;
  const grants = async (user: keyof typeof who) => {
    const r = await json(['rules', 'audit', DEMO, '--user', `CORP\\${user}`, '--groups', who[user]]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.note).toMatch(/default rules are not included unless they were exported with --include-defaults/);
    const m = new Map<string, string[]>();
    for (const row of r.json.resources) m.set(`${row.type} ${row.name}`, row.grants.map((g: { action: string; rules: string[] }) => `${g.action}:${g.rules.join('+')}`));
    return m;
  };

  it('carol reads Proj1_Aud1 and not Proj1_Aud2; bob reads DC_Proj1 and carol does not; alice updates Dashboard 1 and bob does not; bob and alice create apps, carol does not', async () => {
    const [alice, bob, carol] = [await grants('alice'), await grants('bob'), await grants('carol')];
    expect(carol.get('Stream Proj1_Aud1')).toContain('Read:ResourceAccess');
    expect(carol.get('Stream Proj1_Aud2')).toEqual([]);
    expect(bob.get('DataConnection DC_Proj1')).toContain('Read:ResourceAccess');
    expect(carol.get('DataConnection DC_Proj1')).toEqual([]);
    expect(alice.get('App Dashboard 1')).toContain('Update:TeamAdminRead');
    expect(bob.get('App Dashboard 1')!.some((g) => g.startsWith('Update:'))).toBe(false);
    expect(bob.get('App (new App)')).toEqual(['Create:CreateApp']);
    expect(alice.get('App (new App)')).toEqual(['Create:TeamAdminCreate']);
    expect(carol.get('App (new App)')).toEqual([]);
  });

  it('--resource and --action narrow the list', async () => {
    const r = await json(['rules', 'audit', DEMO, '--user', 'bob', '--groups', who.bob, '--resource', 'DataConnection_*', '--action', 'read']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.resources).toEqual([{ type: 'DataConnection', name: 'DC_Proj1', grants: [{ action: 'Read', rules: ['ResourceAccess'] }] }]);
  });
});
