// Finding the PostgreSQL client tools: Debian's on this machine, Qlik/QPI folders on Windows, clear errors.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { candidateBinDirs, clientVersion, findPgBinDir, findServerBinDir } from '../src/postgres/bin.js';
import { fromVersionNum, parsePgVersion } from '../src/postgres/version.js';

const debian15 = '/usr/lib/postgresql/15/bin';

describe('version parsing', () => {
  it('reads tool and server versions', () => {
    expect(parsePgVersion('pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)')).toEqual({ version: '15.14', major: 15 });
    expect(parsePgVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ version: '9.6.24', major: 9.6 });
    expect(parsePgVersion('postgres (PostgreSQL) 17devel')).toEqual({ version: '17devel', major: 17 });
    expect(fromVersionNum(140017)).toEqual({ version: '14.17', major: 14 });
    expect(fromVersionNum(90624)).toEqual({ version: '9.6.24', major: 9.6 });
    expect(() => parsePgVersion('garbage')).toThrow(/no PostgreSQL version/);
  });
});

describe('candidate folders', () => {
  it('on Windows: Qlik-bundled then QPI/EnterpriseDB folders, newest version first, then PATH', async () => {
    const listing: Record<string, string[]> = {
      'C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL': ['9.6', '12.5', '9.6_deprecated'],
      'C:\\Program Files\\PostgreSQL': ['14', '16'],
    };
    const dirs = await candidateBinDirs('win32', { ProgramFiles: 'C:\\Program Files', PATH: 'C:\\Tools;C:\\Windows' }, async (d) => listing[d] ?? []);
    expect(dirs).toEqual([
      'C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\12.5\\bin',
      'C:\\Program Files\\Qlik\\Sense\\Repository\\PostgreSQL\\9.6\\bin',
      'C:\\Program Files\\PostgreSQL\\16\\bin',
      'C:\\Program Files\\PostgreSQL\\14\\bin',
      'C:\\Tools',
      'C:\\Windows',
    ]);
  });

  it('on Linux: /usr/lib/postgresql/<ver>/bin newest first, then PATH', async () => {
    const dirs = await candidateBinDirs('linux', { PATH: '/usr/bin' }, async (d) => (d === '/usr/lib/postgresql' ? ['9.6', '15', '12'] : []));
    expect(dirs).toEqual(['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/12/bin', '/usr/lib/postgresql/9.6/bin', '/usr/bin']);
  });
});

describe.runIf(existsSync(`${debian15}/pg_dump`))('discovery on this machine', () => {
  it('finds Debian 15 client tools, with or without a server version', async () => {
    const found = await findPgBinDir({ serverMajor: 15 });
    expect(found.major).toBeGreaterThanOrEqual(15);
    expect(found.dir).toMatch(/postgresql\/\d+\/bin$/);
    const hinted = await findPgBinDir({ hint: debian15, serverMajor: 14 });
    expect(hinted).toMatchObject({ dir: debian15, major: 15 });
    expect((await clientVersion(debian15, 'pg_restore')).major).toBe(15);
  });

  it('finds the server programs for scratch clusters', async () => {
    const server = await findServerBinDir();
    expect(server.major).toBeGreaterThanOrEqual(15);
  });

  it('errors clearly for a nonexistent hint', async () => {
    await expect(findPgBinDir({ hint: '/nonexistent/pg/bin' })).rejects.toThrow(
      /the database bin folder "\/nonexistent\/pg\/bin" has no pg_dump: fix database.binDir/,
    );
  });

  it('refuses a client older than the server, naming what it found', async () => {
    await expect(findPgBinDir({ hint: debian15, serverVersion: '99.1' })).rejects.toThrow(
      /^pg_dump 15\.\d+ cannot dump a 99\.1 server: use the client tools of the server \(found: \/usr\/lib\/postgresql\/15\/bin \(15\.\d+\)\)/,
    );
    await expect(findPgBinDir({ serverMajor: 99 })).rejects.toThrow(/cannot dump a 99 server/);
  });

  it('says where it looked when there are no tools at all', async () => {
    await expect(findPgBinDir({ platform: 'win32', env: { ProgramFiles: 'D:\\Nowhere', PATH: '' } })).rejects.toThrow(
      /no PostgreSQL client tools \(pg_dump\) found in D:\\Nowhere\\Qlik\\Sense\\Repository\\PostgreSQL\\<version>\\bin, D:\\Nowhere\\PostgreSQL\\<version>\\bin, PATH \(folders checked: none\).*set database.binDir/,
    );
  });
});
