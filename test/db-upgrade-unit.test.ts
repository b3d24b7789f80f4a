// The pure parts of db upgrade: the qpiconfig XML from templates/qpiconfig.xml, the local-path rule for QPI's
// backup folder, the installed Qlik Sense release and its patches, and where the native engine puts the new cluster.
import { describe, expect, it } from 'vitest';
import { defaultNewDataDir, notLocalPath, qpiConfigXml } from '../src/runbooks/db-upgrade.js';
import { installedRelease, releaseOrder } from '../src/installer/releases.js';
import { countDifferences } from '../src/postgres/move.js';

describe('db upgrade pieces', () => {
  it('writes the qpiconfig with the upgrade arguments only, XML-escaped, every value set', () => {
    const x = qpiConfigXml({ DbSuperUserPassword: `p<&>"'w`, DbHost: 'qs-central', DbPort: 4432, DbInstallationPath: 'C:\\Program Files\\PostgreSQL\\14', DbDataPath: 'C:\\Program Files\\PostgreSQL\\14\\data', DbBackupPath: 'C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\12.5' });
    expect(x).toContain('<DbSuperUserPassword>p&lt;&amp;&gt;&quot;&apos;w</DbSuperUserPassword>');
    expect(x).toContain('<DbPort>4432</DbPort>');
    expect(x).toContain('<DbBackupPath>C:\\ProgramData\\Qlik\\Sense\\Repository\\PostgreSQL\\backup\\12.5</DbBackupPath>');
    expect(x).not.toMatch(/\{\{|<DbUserName>|<IpRange>|<ListenAddresses>|<MaxConnections>|<DbUserPassword>/);
    expect(x).toMatch(/^<\?xml version="1.0"\?>/);
    expect(() => qpiConfigXml({ DbSuperUserPassword: '', DbHost: 'h', DbPort: 1, DbInstallationPath: 'a', DbDataPath: 'b', DbBackupPath: 'c' })).toThrow(/DbSuperUserPassword has no value/);
  });

  it('accepts only local drive paths for QPI folders', () => {
    expect(notLocalPath('C:\\ProgramData\\backup')).toBeNull();
    expect(notLocalPath('D:\\QPI')).toBeNull();
    expect(notLocalPath('\\\\fs01\\share\\qpi')).toMatch(/network path/);
    expect(notLocalPath('\\\\?\\UNC\\fs01\\share')).toMatch(/network path/);
    expect(notLocalPath('//fs01/share')).toMatch(/network path/);
    expect(notLocalPath('backup')).toMatch(/not a path on a local drive/);
  });

  it('reads the release and its patches from the installed programs', () => {
    const r = installedRelease([{ name: 'Qlik Sense May 2023', version: '14.129.3' }, { name: 'Qlik Sense May 2023 Patch 4', version: '14.129.7' }, { name: 'Qlik Sense Repository Database 12.5', version: '12.5' }]);
    expect(r).toMatchObject({ name: 'May 2023', patches: ['Patch 4'] });
    expect(r!.order).toBeGreaterThanOrEqual(releaseOrder('February 2022')!);
    expect(releaseOrder('November 2021')!).toBeLessThan(releaseOrder('February 2022')!);
    expect(releaseOrder('August 2023')!).toBeGreaterThan(releaseOrder('May 2023')!);
    expect(installedRelease([{ name: 'PostgreSQL 14', version: '14.17' }])).toBeNull();
  });

  it('puts the new cluster beside the old one and names every count that differs', () => {
    expect(defaultNewDataDir('/srv/PostgreSQL/12/data', 12, 14)).toBe('/srv/PostgreSQL/14/data');
    expect(defaultNewDataDir('/srv/pgdata', 12, 14)).toBe('/srv/pgdata-14');
    expect(countDifferences({ 'QSR:public.Apps': 3, 'QSR:public.Users': 2 }, { 'QSR:public.Apps': 3 })).toEqual(['QSR:public.Users: 2 before, missing after']);
  });
});
