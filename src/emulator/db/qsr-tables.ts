// The tables of the Qlik Sense Repository database (QSR): every table name of reference/qsr-tables.txt (the
// September 2018 list, 149 tables), with the exact case Qlik uses, and the columns qsadmin reads or writes.
// Column names beyond the ones public admin scripts use (reference/qsr-facts.md) are emulator assumptions.

export const QSR_TABLES: readonly string[] = [
  '__MigrationHistory', '_deletedentitylog', '_locktable', '_migrationlog', 'AnalyticConnections',
  'AppAvailabilities', 'AppContentQuotas', 'AppContents', 'AppContentStaticContentReferences', 'AppDataSegments',
  'AppInternals', 'AppObjects', 'Apps', 'AppSeedInfoes', 'AppStatus', 'BinaryDeleteProperties', 'BinaryDeletes',
  'BinaryDownloadProperties', 'BinaryDownloads', 'BinarySyncRuleEvaluations', 'CompositeEventOperationals',
  'CompositeEventRuleOperationals', 'CompositeEventRules', 'CompositeEvents', 'CompositeEventTimeConstraints',
  'ContentLibraries', 'ContentLibraryTags', 'CustomPropertyDefinitions', 'CustomPropertyValues', 'DataConnections',
  'DataConnectionTags', 'EngineServices', 'EngineServiceSettings', 'EngineServiceTags',
  'ExecutionResultDetailExecutionResults', 'ExecutionResultDetails', 'ExecutionResults', 'ExecutionSessions',
  'Extensions', 'ExtensionStaticContentReferences', 'ExtensionTags', 'ExternalProgramTaskOperationals',
  'ExternalProgramTasks', 'ExternalProgramTaskTags', 'FileExtensionFileExtensionWhiteLists', 'FileExtensions',
  'FileExtensionWhiteLists', 'FileReferences', 'LicenseAnalyzerAccessGroups', 'LicenseAnalyzerAccessTypes',
  'LicenseAnalyzerAccessUsages', 'LicenseAnalyzerTimeAccessTypes', 'LicenseAnalyzerTimeAccessUsages',
  'LicenseAnalyzerTimeAccessUsageSessions', 'LicenseLoginAccessTypes', 'LicenseLoginAccessUsages',
  'LicenseLoginAccessUsageSessions', 'LicenseProfessionalAccessGroups', 'LicenseProfessionalAccessTypes',
  'LicenseProfessionalAccessUsages', 'Licenses', 'LicenseUserAccessGroups', 'LicenseUserAccessTypes',
  'LicenseUserAccessUsages', 'LocalConfigs', 'Locks', 'MimeTypes', 'MqChangeNotificationRegistrations',
  'OdagEngineGroups', 'OdagLinks', 'OdagLinkUsages', 'OdagModelGroupOdagLinks', 'OdagModelGroups', 'OdagRequests',
  'OdagServices', 'OdagServiceSettings', 'PrintingServices', 'PrintingServiceSettings',
  'PrintingServiceSettingsLogVerbosities', 'PrintingServiceTags', 'ProxyServiceCertificates', 'ProxyServices',
  'ProxyServiceSettings', 'ProxyServiceSettingsLogVerbosities', 'ProxyServiceTags', 'ReloadTaskOperationals',
  'ReloadTasks', 'ReloadTaskTags', 'RemovedSystemRules', 'RepositoryServices', 'RepositoryServiceSettings',
  'RepositoryServiceSettingsCleaningAgents', 'RepositoryServiceSettingsExternalCerts',
  'RepositoryServiceSettingsLogVerbosities', 'RepositoryServiceSettingsSynchronizations', 'RepositoryServiceTags',
  'SchedulerServices', 'SchedulerServiceSettings', 'SchedulerServiceSettingsLogVerbosities', 'SchedulerServiceTags',
  'SchemaEventOperationals', 'SchemaEvents', 'SelectionItems', 'Selections', 'ServerNodeConfigurations',
  'ServerNodeConfigurationTags', 'ServerNodeHeartbeats', 'ServerNodeRoles', 'ServerNodeRoleServerNodeConfigurations',
  'ServiceClusters', 'ServiceClusterSettings', 'ServiceClusterSettingsDbCredentials',
  'ServiceClusterSettingsSharedPersistenceProperties', 'ServiceStatus', 'SharedContentMetaDatas', 'SharedContents',
  'SharedContentStaticContentReferences', 'SharedContentTags', 'StaticContentReferenceContentLibraries',
  'StaticContentReferenceFileReferences', 'StaticContentReferences', 'Streams', 'StreamTags', 'SyncSessions',
  'SystemInfoes', 'SystemRules', 'SystemRuleTags', 'TableDefinitionColumns', 'TableDefinitionListColumns',
  'TableDefinitions', 'TagAppObjects', 'TagApps', 'Tags', 'TagUsers', 'TempContents', 'TermsAcceptances',
  'UserAttributes', 'UserDirectories', 'UserDirectorySettings', 'UserDirectoryTags', 'Users',
  'UserSyncTaskOperationals', 'UserSyncTasks', 'UserSyncTaskTags', 'VirtualProxyConfigJwtAttributeMapItems',
  'VirtualProxyConfigProxyServiceSettings', 'VirtualProxyConfigs', 'VirtualProxyConfigSamlAttributeMapItems',
  'VirtualProxyConfigServerNodeConfigurations',
];

/** A column: name and SQL type (with constraints). */
export type Column = readonly [name: string, type: string];

const TS = 'timestamp without time zone';
const NOW = `${TS} NOT NULL DEFAULT now()`;

/** Columns every QSR table has (Qlik's entity base: ID, CreatedDate, ModifiedDate, ModifiedByUserName). */
export const COMMON_COLUMNS: readonly Column[] = [
  ['ID', 'uuid PRIMARY KEY'],
  ['CreatedDate', NOW],
  ['ModifiedDate', NOW],
  ['ModifiedByUserName', 'text'],
];

const ref = (n: string): Column => [n, 'uuid'];
const txt = (n: string): Column => [n, 'text'];
const int = (n: string): Column => [n, 'integer NOT NULL DEFAULT 0'];
const big = (n: string): Column => [n, 'bigint NOT NULL DEFAULT 0'];
const bool = (n: string, d = false): Column => [n, `boolean NOT NULL DEFAULT ${d}`];
const ts = (n: string): Column => [n, TS];
const nodeService: Column[] = [ref('ServerNodeConfigurationID'), ref('SettingsID')];
const licenseAccess: Column[] = [ref('UserID'), ref('AccessGroupID'), ts('LastUsed'), ts('QuarantineEnd'), bool('Deleted')];
const link = (a: string, b: string): Column[] => [ref(a), ref(b)];
const named: Column[] = [txt('Name')];

/** Columns beyond COMMON_COLUMNS, for the tables qsadmin and the emulated QRS use. */
export const QSR_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  __MigrationHistory: [txt('MigrationId'), txt('ContextKey'), ['Model', 'bytea'], txt('ProductVersion')],
  _deletedentitylog: [txt('EntityType'), ref('EntityID')],
  _locktable: [txt('LockName'), txt('Owner')],
  _migrationlog: [txt('Version'), txt('Description'), ts('Applied')],
  Apps: [
    ['Name', 'text NOT NULL'], txt('AppId'), ts('PublishTime'), bool('Published'), ref('StreamID'), ref('OwnerID'),
    big('FileSize'), ts('LastReloadTime'), txt('Description'), txt('Thumbnail'), txt('SavedInProductVersion'),
    txt('MigrationHash'), txt('SourceAppId'), txt('TargetAppId'), txt('DynamicColor'), int('AvailabilityStatus'),
  ],
  AppObjects: [
    ref('AppID'), txt('EngineObjectId'), txt('EngineObjectType'), txt('Name'), txt('ObjectType'), bool('Published'),
    bool('Approved'), ref('OwnerID'), txt('ContentHash'),
  ],
  AppContents: [ref('AppID'), txt('Name'), txt('Path'), big('FileSize')],
  CompositeEvents: [...named, ref('ReloadTaskID'), ref('UserSyncTaskID'), bool('Enabled', true), int('TimeConstraintSeconds')],
  ContentLibraries: [...named, ref('OwnerID'), int('Type')],
  CustomPropertyDefinitions: [...named, txt('ValueType'), txt('ChoiceValues'), txt('ObjectTypes'), txt('Description')],
  CustomPropertyValues: [ref('DefinitionID'), txt('Value'), ref('ObjectID'), txt('ObjectType')],
  DataConnections: [
    ...named, txt('ConnectionString'), txt('Type'), txt('UserName'), ['Password', 'text'], ref('OwnerID'),
    int('Architecture'), int('LogOn'),
  ],
  EngineServices: nodeService,
  EngineServiceSettings: [txt('DocumentDirectory'), int('MinMemUsage'), int('MaxMemUsage'), int('ListenerPort')],
  ExecutionResultDetailExecutionResults: link('ExecutionResultDetailID', 'ExecutionResultID'),
  ExecutionResultDetails: [int('DetailsType'), txt('Message'), ts('DetailCreatedDate')],
  ExecutionResults: [
    ref('ExecutionID'), ref('AppID'), ref('TaskID'), int('Status'), ts('StartTime'), ts('StopTime'), big('Duration'),
    txt('ScriptLogLocation'), big('ScriptLogSize'), txt('ExecutingNodeName'),
  ],
  ExecutionSessions: [ref('TaskID'), int('Status'), ts('StartTime')],
  Extensions: [...named, ref('OwnerID'), txt('Type')],
  ExternalProgramTasks: [...named, txt('Path'), txt('Parameters'), bool('Enabled', true)],
  FileReferences: [txt('Path'), big('FileSize')],
  LicenseAnalyzerAccessTypes: licenseAccess,
  LicenseLoginAccessTypes: [...named, int('AssignedTokens')],
  LicenseProfessionalAccessTypes: licenseAccess,
  Licenses: [txt('Serial'), txt('Control'), txt('Name'), txt('Organization'), txt('Key'), txt('Lef'), bool('IsSignedLicenseKey')],
  LicenseUserAccessTypes: licenseAccess,
  LocalConfigs: [['HostName', 'text NOT NULL'], txt('ProductVersion')],
  Locks: [txt('Name'), txt('Owner'), ts('Expires')],
  MimeTypes: [['Extension', 'text NOT NULL'], ['Mime', 'text NOT NULL'], txt('AdditionalHeaders'), bool('Binary')],
  OdagServices: nodeService,
  PrintingServices: nodeService,
  ProxyServices: nodeService,
  ProxyServiceSettings: [
    ['ListenPort', 'integer NOT NULL DEFAULT 443'], ['UnencryptedListenPort', 'integer NOT NULL DEFAULT 80'],
    bool('AllowHttp'), ['AuthenticationListenPort', 'integer NOT NULL DEFAULT 4244'], txt('SslBrowserCertificateThumbprint'),
  ],
  ReloadTaskOperationals: [ref('LastExecutionResultID'), ts('NextExecution')],
  ReloadTasks: [
    ['Name', 'text NOT NULL'], ref('AppID'), bool('Enabled', true), ['TaskSessionTimeout', 'integer NOT NULL DEFAULT 1440'],
    int('MaxRetries'), bool('IsManuallyTriggered'), ref('OperationalID'),
  ],
  RepositoryServices: nodeService,
  SchedulerServices: nodeService,
  SchemaEvents: [
    ...named, ref('ReloadTaskID'), txt('TimeZone'), ts('StartDate'), txt('Expression'), int('IncrementOption'),
    txt('IncrementDescription'), bool('Enabled', true),
  ],
  ServerNodeConfigurations: [
    ['Name', 'text NOT NULL'], ['HostName', 'text NOT NULL'], bool('IsCentral'), int('NodePurpose'), bool('EngineEnabled', true),
    bool('ProxyEnabled', true), bool('SchedulerEnabled', true), bool('PrintingEnabled', true), bool('FailoverCandidate'),
    txt('TemporaryFilePath'),
  ],
  ServerNodeHeartbeats: [ref('ServerNodeConfigurationID'), ts('LastHeartbeat'), int('ServiceType')],
  ServiceClusters: [...named, ref('SettingsID')],
  ServiceClusterSettings: [ref('SharedPersistencePropertiesID'), ref('DbCredentialsID'), txt('EncryptionKeyThumbprint')],
  ServiceClusterSettingsDbCredentials: [txt('UserName'), ['Password', 'text']],
  ServiceClusterSettingsSharedPersistenceProperties: [
    txt('RootFolder'), txt('AppFolder'), txt('StaticContentRootFolder'), txt('ArchivedLogsRootFolder'),
    txt('Connector64RootFolder'), txt('Connector32RootFolder'), txt('DatabaseHost'), ['DatabasePort', 'integer NOT NULL DEFAULT 4432'],
    ['FailoverTimeout', 'integer NOT NULL DEFAULT 10'],
  ],
  ServiceStatus: [ref('ServerNodeConfigurationID'), int('ServiceType'), int('ServiceState'), ts('Timestamp')],
  StaticContentReferences: [txt('LogicalPath'), txt('ExternalPath'), big('FileSize')],
  StaticContentReferenceContentLibraries: link('StaticContentReferenceID', 'ContentLibraryID'),
  Streams: [['Name', 'text NOT NULL'], ref('OwnerID')],
  SystemRules: [
    ['Name', 'text NOT NULL'], txt('Rule'), txt('ResourceFilter'), big('Actions'), txt('Category'), txt('Type'),
    bool('Disabled'), txt('Comment'), int('RuleContext'), ref('SeedId'), int('Version'),
  ],
  TagApps: link('TagID', 'AppID'),
  TagAppObjects: link('TagID', 'AppObjectID'),
  Tags: named,
  TagUsers: link('TagID', 'UserID'),
  UserAttributes: [ref('UserID'), txt('AttributeType'), txt('AttributeValue'), txt('ExternalId')],
  UserDirectories: [...named, txt('UserDirectoryName'), txt('Type'), bool('SyncOnlyLoggedInUsers', true), txt('ConfiguredString')],
  Users: [
    ['UserId', 'text NOT NULL'], ['UserDirectory', 'text NOT NULL'], txt('Name'), bool('Inactive'), bool('RemovedExternally'),
    bool('Blacklisted'), bool('DeleteProhibited'), txt('Roles'),
  ],
  UserSyncTasks: [...named, ref('UserDirectoryID'), bool('Enabled', true)],
  VirtualProxyConfigProxyServiceSettings: link('VirtualProxyConfigID', 'ProxyServiceSettingsID'),
  VirtualProxyConfigs: [
    txt('Prefix'), txt('Description'), txt('SessionCookieHeaderName'), txt('AuthenticationModuleRedirectUri'),
    int('AuthenticationMethod'), bool('DefaultVirtualProxy'),
  ],
  VirtualProxyConfigServerNodeConfigurations: link('VirtualProxyConfigID', 'ServerNodeConfigurationID'),
};

/** Indexes beyond the primary keys: [table, columns, unique]. */
export const QSR_INDEXES: ReadonlyArray<readonly [string, readonly string[], boolean]> = [
  ['Users', ['UserDirectory', 'UserId'], true],
  ['Apps', ['StreamID'], false],
  ['Apps', ['OwnerID'], false],
  ['ReloadTasks', ['AppID'], false],
  ['ExecutionResults', ['TaskID'], false],
  ['ExecutionResultDetailExecutionResults', ['ExecutionResultID'], false],
  ['ExecutionResultDetailExecutionResults', ['ExecutionResultDetailID'], false],
  ['UserAttributes', ['UserID'], false],
  ['CustomPropertyValues', ['ObjectID'], false], // QRS reads an object's values by its id (stream, app, data connection)
  ['ServerNodeConfigurations', ['HostName'], true],
];

/** Foreign keys: [table, column, referenced table]. */
export const QSR_FOREIGN_KEYS: ReadonlyArray<readonly [string, string, string]> = [
  ['Apps', 'StreamID', 'Streams'],
  ['Apps', 'OwnerID', 'Users'],
  ['ReloadTasks', 'AppID', 'Apps'],
  ['Streams', 'OwnerID', 'Users'],
];

// All columns of a QSR table, common ones first.
export function qsrColumns(table: string): readonly Column[] {
  if (!QSR_TABLES.includes(table)) throw new Error(`"${table}" is not a QSR table (reference/qsr-tables.txt)`);
  return [...COMMON_COLUMNS, ...(QSR_COLUMNS[table] ?? [])];
}
