// The shared persistence configuration (spc) that Qlik_Sense_setup.exe reads (guide §4.1 L6026-6081): written from
// templates/spc.xml, read back, and checked by the guide's rules before setup ever sees it.
import fs from 'node:fs';
import path from 'node:path';
import { installRoot, packagedRuntime } from '../runbook/packaged.js';

/** The elements of <SharedPersistenceConfiguration>, in the guide's order. */
export const SPC_ELEMENTS = [
  'DbUserName', 'DbUserPassword', 'DbHost', 'DbPort', 'RootDir', 'StaticContentRootDir', 'ArchivedLogsDir', 'AppsDir',
  'CreateCluster', 'InstallLocalDb', 'ConfigureDbListener', 'ListenAddresses', 'IpRange', 'MaxConnections', 'JoinCluster',
  'HttpPortNumber', 'HttpsPortNumber', 'EnableHttpPort', 'DbMaximumConnectionPoolSize',
] as const;
export type SpcElement = (typeof SPC_ELEMENTS)[number];
export type SpcValues = Partial<Record<SpcElement, string>>;

const REQUIRED: SpcElement[] = ['DbUserName', 'DbUserPassword', 'DbHost', 'DbPort', 'RootDir', 'StaticContentRootDir', 'ArchivedLogsDir', 'AppsDir'];
const BOOLEANS: SpcElement[] = ['CreateCluster', 'JoinCluster', 'InstallLocalDb', 'ConfigureDbListener', 'EnableHttpPort'];
const PORTS: SpcElement[] = ['DbPort', 'HttpPortNumber', 'HttpsPortNumber'];

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function xmlUnescape(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The guide's example file, as shipped in templates/spc.xml (embedded in the single-file Windows build). */
export function spcTemplate(): string {
  return packagedRuntime()?.asset('templates/spc.xml') ?? fs.readFileSync(path.join(installRoot(), 'templates', 'spc.xml'), 'utf8');
}

/**
 * The spc XML for these values: the template's lines with their values replaced; an element that is not set is left
 * out (setup then uses its default), so that CreateCluster and JoinCluster are never both present. CRLF, as on Windows.
 */
export function renderSpc(values: SpcValues, template = spcTemplate()): string {
  const out: string[] = [];
  const done = new Set<string>();
  for (const line of template.split(/\r?\n/)) {
    const m = /^(\s*)(?:<!--\s*)?<(\w+)>[^<]*<\/\2>(?:\s*-->)?\s*$/.exec(line);
    if (m && (SPC_ELEMENTS as readonly string[]).includes(m[2])) {
      const v = values[m[2] as SpcElement];
      if (v !== undefined) out.push(`${m[1]}<${m[2]}>${xmlEscape(v)}</${m[2]}>`);
      done.add(m[2]);
      continue;
    }
    if (/^\s*<\/SharedPersistenceConfiguration>/.test(line)) {
      for (const k of SPC_ELEMENTS) if (!done.has(k) && values[k] !== undefined) out.push(`  <${k}>${xmlEscape(values[k]!)}</${k}>`);
    }
    out.push(line);
  }
  return out.join('\r\n').replace(/(\r\n)+$/, '') + '\r\n';
}

/** Read an spc file's elements (comments ignored). Throws when it is not an spc document or an element repeats. */
export function parseSpc(text: string): { values: SpcValues; unknown: string[] } {
  const body = text.replace(/^\uFEFF/, '').replace(/<!--[\s\S]*?-->/g, '');
  const root = /<SharedPersistenceConfiguration\b[^>]*>([\s\S]*)<\/SharedPersistenceConfiguration>/.exec(body);
  if (!root) throw new Error('not a shared persistence configuration: no <SharedPersistenceConfiguration> element');
  const values: SpcValues = {};
  const unknown: string[] = [];
  for (const m of root[1].matchAll(/<(\w+)\s*>([^<]*)<\/\1\s*>|<(\w+)\s*\/>/g)) {
    const name = m[1] ?? m[3];
    const value = m[1] ? xmlUnescape(m[2]).trim() : '';
    if (!(SPC_ELEMENTS as readonly string[]).includes(name)) {
      unknown.push(name);
      continue;
    }
    if (name in values) throw new Error(`<${name}> appears twice: keep one`);
    values[name as SpcElement] = value;
  }
  return { values, unknown };
}

/** The letter "scripts" of a string: digits, spaces and ASCII punctuation belong to every set. */
export function characterSets(s: string): string[] {
  const sets = new Set<string>();
  const scripts: Array<[string, RegExp]> = [
    ['Latin', /\p{Script=Latin}/u], ['Cyrillic', /\p{Script=Cyrillic}/u], ['Greek', /\p{Script=Greek}/u],
    ['Han', /\p{Script=Han}/u], ['Japanese kana', /[\p{Script=Hiragana}\p{Script=Katakana}]/u], ['Hangul', /\p{Script=Hangul}/u],
    ['Arabic', /\p{Script=Arabic}/u], ['Hebrew', /\p{Script=Hebrew}/u], ['Thai', /\p{Script=Thai}/u], ['Devanagari', /\p{Script=Devanagari}/u],
  ];
  for (const ch of s) {
    if (/[\x20-\x7e]/.test(ch) && !/[A-Za-z]/.test(ch)) continue;
    const hit = scripts.find(([, re]) => re.test(ch));
    sets.add(hit ? hit[0] : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  return [...sets];
}

/** Is the value a CIDR (IPv4 a.b.c.d/n or IPv6 x::/n)? */
function isCidr(s: string): boolean {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) return addr.split('.').every((p) => Number(p) <= 255) && Number(bits) <= 32;
  return /^[0-9a-fA-F:]+$/.test(addr) && addr.includes(':') && Number(bits) <= 128;
}

function isListenAddress(s: string): boolean {
  if (s === '*' || s === '::' || s === ':::0' || s === '0.0.0.0') return true;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((p) => Number(p) <= 255);
  return /^[0-9a-fA-F:]+$/.test(s) && s.includes(':');
}

/**
 * Problems of an spc by the guide's rules, each naming the element and the fix; empty when it is valid.
 * Rules: the eight settings present; exactly one of CreateCluster/JoinCluster; InstallLocalDb only with
 * CreateCluster; ConfigureDbListener needs ListenAddresses and IpRange; DbMaximumConnectionPoolSize 90..1000;
 * DbUserName not "postgres" (L3164); user name and password from one character set (§8.13).
 */
export function validateSpc(values: SpcValues, unknown: string[] = []): string[] {
  const problems: string[] = [];
  const isTrue = (k: SpcElement) => values[k]?.toLowerCase() === 'true';
  for (const k of REQUIRED) if (!values[k]) problems.push(`<${k}> is missing or empty: set it (guide §4.1 "Configuration file syntax")`);
  for (const k of BOOLEANS) {
    if (values[k] !== undefined && !/^(true|false)$/i.test(values[k]!)) problems.push(`<${k}> is "${values[k]}": it takes true or false`);
  }
  for (const k of PORTS) {
    const v = values[k];
    if (v !== undefined && v !== '' && !(/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535)) problems.push(`<${k}> is "${v}": give a port number 1-65535`);
  }
  const create = values.CreateCluster !== undefined;
  const join = values.JoinCluster !== undefined;
  if (create && join) problems.push('both <CreateCluster> and <JoinCluster> are present: only one may be (remove the other, or comment it out)');
  if (!create && !join) problems.push('neither <CreateCluster> nor <JoinCluster> is set: set CreateCluster for a new site (central node) or JoinCluster to add a node');
  if ((create && !isTrue('CreateCluster')) || (join && !isTrue('JoinCluster'))) problems.push(`<${create ? 'CreateCluster' : 'JoinCluster'}> is not true: remove it, or set it to true`);
  if (isTrue('InstallLocalDb') && !isTrue('CreateCluster')) problems.push('<InstallLocalDb> is true without <CreateCluster>: a local database is installed only when a new cluster is created');
  if (isTrue('ConfigureDbListener')) {
    if (!values.ListenAddresses) problems.push('<ConfigureDbListener> is true but <ListenAddresses> is not set: give the addresses the database listens on (e.g. *)');
    else for (const a of values.ListenAddresses.split(',').map((x) => x.trim())) if (!isListenAddress(a)) problems.push(`<ListenAddresses> has "${a}": give IPv4/IPv6 addresses, 0.0.0.0, ::, or *`);
    if (!values.IpRange) problems.push('<ConfigureDbListener> is true but <IpRange> is not set: give the subnets of every node (e.g. 10.0.0.0/24, or one /32 per node)');
    else for (const r of values.IpRange.split(',').map((x) => x.trim())) if (!isCidr(r)) problems.push(`<IpRange> has "${r}": give CIDR ranges such as 10.0.0.5/32 or 0.0.0.0/0`);
  }
  if (values.MaxConnections !== undefined && !(/^\d+$/.test(values.MaxConnections) && Number(values.MaxConnections) > 0)) problems.push(`<MaxConnections> is "${values.MaxConnections}": give a positive number (100 per node, guide §4.1)`);
  const pool = values.DbMaximumConnectionPoolSize;
  if (pool !== undefined && !(/^\d+$/.test(pool) && Number(pool) >= 90 && Number(pool) <= 1000)) problems.push(`<DbMaximumConnectionPoolSize> is "${pool}": it must be 90 to 1000`);
  if (values.DbUserName?.toLowerCase() === 'postgres') problems.push('<DbUserName> is "postgres": the repository database user must not be the superuser (use qliksenserepository, guide §2.5)');
  if (values.DbUserName && values.DbUserPassword) {
    const sets = characterSets(values.DbUserName + values.DbUserPassword);
    if (sets.length > 1) problems.push(`<DbUserName> and <DbUserPassword> mix character sets (${sets.join(', ')}): QRS then cannot connect to its database (guide §8.13); use characters of one set`);
  }
  for (const u of unknown) problems.push(`<${u}> is not a shared persistence setting: remove it or fix its name (known: ${SPC_ELEMENTS.join(', ')})`);
  return problems;
}

/** A Windows account for userwithdomain: DOMAIN\user, or user@full.domain when the name is over 20 characters. */
export function serviceUserProblem(account: string): string | null {
  if (/^[^\\@\s]+\\[^\\@\s]+$/.test(account)) {
    const user = account.split('\\')[1];
    if (user.length > 20) return `the user name "${user}" is over 20 characters: give it as a UPN with the full domain name (user@full.domain.name, guide §4.1)`;
    return null;
  }
  if (/^[^\\@\s]+@[^\\@\s]+\.[^\\@\s]+$/.test(account)) return null;
  return `"${account}" is not DOMAIN\\user or user@full.domain.name: give the service account with its domain`;
}
