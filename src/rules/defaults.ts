// Qlik's default (seeded) security rules as the emulated site installs them, with fixed seed ids: every site has the
// same seedId for the same default rule (as on real sites), which is how an export matches an edited default rule
// on another site. Names and conditions follow Qlik's stock admin roles; the filter of CreateAppObjectsPublishedApp
// is the stock `App.Object_*` (reference/security-rules.md [API]). The seed ids themselves are emulator assumptions.

export interface StockRule {
  seedId: string;
  name: string;
  resourceFilter: string;
  rule: string;
  actions: number;
  category: 'Security' | 'License' | 'Sync';
  ruleContext: number;
}

const ALL = 511;
const stock = (n: number, name: string, resourceFilter: string, rule: string, actions: number, category: StockRule['category'] = 'Security'): StockRule => ({
  seedId: `5eed0000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  name,
  resourceFilter,
  rule,
  actions,
  category,
  ruleContext: 0,
});

export const STOCK_RULES: readonly StockRule[] = [
  stock(1, 'RootAdmin', '*', 'user.roles="RootAdmin"', ALL),
  stock(2, 'ContentAdmin', 'App*,Stream_*,ReloadTask_*,DataConnection_*,ContentLibrary_*,Extension_*', 'user.roles="ContentAdmin"', ALL),
  stock(3, 'SecurityAdmin', 'SystemRule_*,CustomProperty*,VirtualProxyConfig_*,UserDirectory_*', 'user.roles="SecurityAdmin"', ALL),
  stock(4, 'DeploymentAdmin', 'ServerNodeConfiguration_*,License_*,*Service_*', 'user.roles="DeploymentAdmin"', ALL),
  stock(5, 'AuditAdmin', 'SystemRule_*,QmcSection_Audit', 'user.roles="AuditAdmin"', 2),
  stock(6, 'Stream', 'Stream_*', 'resource.name="Everyone"', 2 | 32),
  stock(7, 'CreateApp', 'App_*', '!user.IsAnonymous()', 1),
  stock(8, 'CreateAppObjectsPublishedApp', 'App.Object_*', '!resource.App.stream.Empty() and resource.App.HasPrivilege("read")', 1),
  stock(9, 'License rule to grant user access', 'License.UserAccessType_*', 'user.userDirectory="INTERNAL"', 2, 'License'),
];
