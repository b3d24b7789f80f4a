// Repository.exe.config of an emulated node: app settings plus the QSR and QSMQ connection strings, encrypted
// with the node's (emulated) DPAPI key as Qlik does (guide §6.7: provider Devart.Data.PostgreSql, "Save value in config file encrypted").
import fs from 'node:fs';
import { defaultSitePaths, windowsToEmulated } from '../../host/paths.js';
import { protect, unprotect } from '../services/dpapi.js';

export interface RepositoryConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  maxPoolSize: number;
}

// Local path of Repository.exe.config on an emulated node.
export function repositoryConfigFile(nodeRoot: string): string {
  return windowsToEmulated(nodeRoot, defaultSitePaths().configFiles[0]);
}

// A Devart PostgreSQL connection string as Qlik writes it (guide §6.7: "Max Pool Size=90;Connection Lifetime=3600").
export function formatConnectionString(c: RepositoryConnection): string {
  return `User ID=${c.user};Host=${c.host};Password=${c.password};Database=${c.database};Port=${c.port};Pooling=true;Min Pool Size=0;Max Pool Size=${c.maxPoolSize};Connection Lifetime=3600;Unicode=true;`;
}

// Parse a Devart connection string ("Key=Value;" pairs, keys case-insensitive).
export function parseConnectionString(text: string): RepositoryConnection {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const need = (k: string): string => {
    const v = fields.get(k);
    if (v === undefined) throw new Error(`connection string has no "${k}"`);
    return v;
  };
  return {
    host: need('host'),
    port: Number(fields.get('port') ?? '4432'),
    user: need('user id'),
    password: fields.get('password') ?? '',
    database: need('database'),
    maxPoolSize: Number(fields.get('max pool size') ?? '90'),
  };
}

// Escape a value for an XML attribute.
function xmlAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Undo xmlAttr.
function xmlUnescape(value: string): string {
  return value.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// The text of Repository.exe.config for a node whose QSR and QSMQ live at the given database.
export function repositoryConfigXml(nodeRoot: string, db: { host: string; port: number; user: string; password: string }): string {
  const conn = (database: string): string => formatConnectionString({ ...db, database, maxPoolSize: 90 });
  const plain =
    '<connectionStrings>' +
    `<add name="QSR" connectionString="${xmlAttr(conn('QSR'))}" providerName="Devart.Data.PostgreSql" />` +
    `<add name="QSMQ" connectionString="${xmlAttr(conn('QSMQ'))}" providerName="Devart.Data.PostgreSql" />` +
    '</connectionStrings>';
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<configuration>',
    '  <appSettings>',
    '    <add key="DisableAutomaticBootstrap" value="false" />',
    '    <add key="HttpsPort" value="4242" />',
    '    <add key="StatePort" value="4444" />',
    '    <add key="CertificatePasswordPort" value="4570" />',
    '    <add key="DatabaseProvider" value="Devart.Data.PostgreSql" />',
    '  </appSettings>',
    '  <connectionStrings configProtectionProvider="DataProtectionConfigurationProvider">',
    '    <EncryptedData>',
    '      <CipherData>',
    `        <CipherValue>${protect(nodeRoot, plain)}</CipherValue>`,
    '      </CipherData>',
    '    </EncryptedData>',
    '  </connectionStrings>',
    '  <startup>',
    '    <supportedRuntime version="v4.0" sku=".NETFramework,Version=v4.8" />',
    '  </startup>',
    '</configuration>',
    '',
  ].join('\r\n');
}

// Read the named connection string (QSR or QSMQ) from a node's Repository.exe.config, decrypting it.
export function readRepositoryConnection(nodeRoot: string, name: 'QSR' | 'QSMQ' = 'QSR'): RepositoryConnection {
  const file = repositoryConfigFile(nodeRoot);
  const xml = fs.readFileSync(file, 'utf8');
  const cipher = /<CipherValue>([^<]+)<\/CipherValue>/.exec(xml);
  const section = cipher ? unprotect(nodeRoot, cipher[1].trim()) : (/<connectionStrings[^>]*>([\s\S]*?)<\/connectionStrings>/.exec(xml)?.[1] ?? '');
  const re = /<add\s+name="([^"]+)"\s+connectionString="([^"]*)"/g;
  for (let m = re.exec(section); m; m = re.exec(section)) {
    if (m[1] === name) return parseConnectionString(xmlUnescape(m[2]));
  }
  throw new Error(`${file} has no connection string "${name}"`);
}
