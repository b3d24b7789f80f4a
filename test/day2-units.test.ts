// The pure parts of the day-2 commands: pg_hba.conf rewriting, what certs renew removes, --since, hash kinds, the
// guide's signatures. No site: these run in milliseconds.
import { describe, expect, it } from 'vitest';
import { KNOWN_SIGNATURES } from '../src/logs/signatures.js';
import { parseSince } from '../src/logs/collect.js';
import { linesWithMethod, switchHbaMethod } from '../src/postgres/hba.js';
import { scramVerifier } from '../src/postgres/scram.js';
import { chooseTargets } from '../src/runbooks/certs-renew.js';
import { hashKind } from '../src/runbooks/db-harden.js';
import type { StoredCert } from '../src/host/types.js';

const HBA = [
  '# TYPE  DATABASE        USER            ADDRESS                 METHOD',
  '# "local" is for Unix domain socket connections only; md5 here is a comment',
  'local   all             all                                     md5',
  'host    all             all             127.0.0.1/32            md5',
  'host    replication     replicator      0.0.0.0/0               md5',
  'host    all             all             ::1/128                 trust',
  'hostssl all             md5user         10.0.0.0/8              md5  # user named md5user',
  '',
].join('\n');

describe('pg_hba.conf md5 → scram-sha-256', () => {
  it('changes the method of active md5 lines only, byte for byte otherwise', () => {
    const out = switchHbaMethod(HBA, 'md5', 'scram-sha-256');
    expect(linesWithMethod(out, 'md5')).toEqual([]);
    expect(linesWithMethod(out, 'scram-sha-256')).toHaveLength(4);
    expect(out).toContain('# "local" is for Unix domain socket connections only; md5 here is a comment');
    expect(out).toContain('host    all             all             ::1/128                 trust');
    expect(out).toContain('hostssl all             md5user         10.0.0.0/8              scram-sha-256  # user named md5user');
    expect(out.split('\n')).toHaveLength(HBA.split('\n').length);
    expect(switchHbaMethod(out, 'md5', 'scram-sha-256')).toBe(out); // a second run changes nothing
  });
});

describe('certs renew targets', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const cert = (subject: string, issuer: string, role: string, notAfter: string, name: 'My' | 'Root' = 'My') =>
    ({ subject, issuer, role, thumbprint: subject.toUpperCase(), notAfter: new Date(notAfter), store: { location: 'LocalMachine', name } }) as unknown as StoredCert & { role: string };
  const set = (rootAfter: string, leafAfter: string) => [
    cert('qs-central-CA', 'qs-central-CA', 'root', rootAfter, 'Root'),
    cert('qs-central', 'qs-central-CA', 'server', leafAfter),
    cert('QlikClient', 'qs-central-CA', 'client', leafAfter),
  ];

  it('takes the whole set when the CA expired, nothing when none did, everything with force', () => {
    expect(chooseTargets(set('2026-05-01', '2026-05-01'), now, false)).toMatchObject({ kept: [] });
    expect(chooseTargets(set('2026-05-01', '2030-01-01'), now, false).targets).toHaveLength(3); // issued by an expired CA
    expect(chooseTargets(set('2030-01-01', '2030-01-01'), now, false).targets).toHaveLength(0);
    expect(chooseTargets(set('2030-01-01', '2030-01-01'), now, true).targets).toHaveLength(3);
  });

  it('reports a partial expiry (a leaf expired, its CA valid) as kept certificates', () => {
    const r = chooseTargets([...set('2030-01-01', '2030-01-01'), cert('QlikServiceCluster', 'qs-central-CA', 'serviceCluster', '2026-01-01')], now, false);
    expect(r.targets.map((t) => t.subject)).toEqual(['QlikServiceCluster']);
    expect(r.kept).toHaveLength(3);
  });
});

describe('logs collect --since', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  it('takes durations and dates, and refuses anything else as bad input', () => {
    expect(parseSince('24h', now).toISOString()).toBe('2026-05-31T12:00:00.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2026-06-01T11:30:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-05-25T12:00:00.000Z');
    expect(parseSince('2026-01-31T08:00:00Z', now).toISOString()).toBe('2026-01-31T08:00:00.000Z');
    for (const bad of ['yesterday', '24', '5y', '']) expect(() => parseSince(bad, now)).toThrow(/--since/);
  });
});

describe('password hashes', () => {
  it('tells md5, SCRAM and none apart; a client-side SCRAM verifier has PostgreSQL\'s form', () => {
    expect(hashKind('md5' + 'a'.repeat(32))).toBe('md5');
    expect(hashKind(null)).toBe('none');
    const v = scramVerifier('Secret-1', Buffer.alloc(16, 1));
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:AQEBAQEBAQEBAQEBAQEBAQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(hashKind(v)).toBe('scram-sha-256');
    expect(scramVerifier('pässword')).toBeNull(); // SASLprep is the server's: such a password is sent as is
  });
});

describe('the guide\'s signatures', () => {
  it('matches each line the guide names, with a section and a fix', () => {
    const lines: Record<string, string> = {
      'pg-hba-no-entry': 'psql: FATAL: no pg_hba.conf entry for host "10.1.2.3"',
      'postgres-password-failed': 'Fatal exception password authentication failed for user "postgres"',
      'se-security-privilege': "The process does not possess the 'SeSecurityPrivilege' privilege",
      'error-1053': 'Error 1053: The service did not respond to the start control request in a timely fashion',
      'too-many-roots': 'There are too many root certificates for the service to trust.',
      'patch-uninstalled': 'Patch was uninstalled with exit code: -1',
    };
    for (const s of KNOWN_SIGNATURES) {
      expect(s.pattern.test(lines[s.id]), s.id).toBe(true);
      expect(s.section).toMatch(/^§\d/);
      expect(s.fix.length).toBeGreaterThan(20);
    }
    expect(KNOWN_SIGNATURES.some((s) => s.pattern.test('password authentication failed for user "qliksenserepository"'))).toBe(false);
  });
});
