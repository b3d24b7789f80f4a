// The Qlik Sense Windows services, their ports and their start order: facts from the guide in one place.
// Service short names are not in the guide (digest §3.1 INFERENCE); they are the names public admin scripts use
// (reference/qsr-facts.md). `postgresql-x64-14` is the guide's own name for the QPI service (§2.6).
import { InputError } from '../runbook/errors.js';

export type DatabaseServiceName = 'QlikSenseRepositoryDatabase' | 'postgresql-x64-14';

export type QlikServiceName =
  | 'QlikSenseServiceDispatcher'
  | 'QlikSenseRepositoryService'
  | 'QlikSenseProxyService'
  | 'QlikSenseEngineService'
  | 'QlikSenseSchedulerService'
  | 'QlikSensePrintingService';

export type ServiceName = DatabaseServiceName | QlikServiceName;

export interface ServiceFact {
  name: ServiceName;
  abbr: string;
  display: string;
  /** Start tier: lower starts first (guide §1.3 "manual start order": QRD → QSD → QRS → QPS/QES/QSS/QPR). */
  tier: number;
  /** Ports the service listens on (guide §1.3 ports tables). */
  ports: number[];
  /** Services that must be running for this one to start (guide §1.3, §8.9). */
  requires: Array<ServiceName | 'database'>;
  /** Executable under the install dir, relative, Windows form. */
  exe?: string;
}

export const DEFAULT_DB_PORT = 4432; // guide §2.5
export const QRS_API_PORT = 4242;
export const QRS_STATE_PORT = 4444; // /status/servicestate, plain HTTP (guide §1.3 minimum ports)
export const QRS_UNLOCK_PORT = 4570; // certificate unlock, localhost only (guide §1.3 internal ports)

export const QLIK_SERVICES: ServiceFact[] = [
  { name: 'QlikSenseServiceDispatcher', abbr: 'QSD', display: 'Qlik Sense Service Dispatcher', tier: 1, ports: [4900, 9028, 9200], requires: [], exe: 'ServiceDispatcher\\ServiceDispatcher.exe' },
  { name: 'QlikSenseRepositoryService', abbr: 'QRS', display: 'Qlik Sense Repository Service', tier: 2, ports: [4242, 4444, 4239], requires: ['database', 'QlikSenseServiceDispatcher'], exe: 'Repository\\Repository.exe' },
  { name: 'QlikSenseProxyService', abbr: 'QPS', display: 'Qlik Sense Proxy Service', tier: 3, ports: [443, 4243], requires: ['QlikSenseRepositoryService'], exe: 'Proxy\\Proxy.exe' },
  { name: 'QlikSenseEngineService', abbr: 'QES', display: 'Qlik Sense Engine Service', tier: 3, ports: [4747], requires: ['QlikSenseRepositoryService'], exe: 'Engine\\Engine.exe' },
  { name: 'QlikSenseSchedulerService', abbr: 'QSS', display: 'Qlik Sense Scheduler Service', tier: 3, ports: [5050, 5151], requires: ['QlikSenseRepositoryService'], exe: 'Scheduler\\Scheduler.exe' },
  { name: 'QlikSensePrintingService', abbr: 'QPR', display: 'Qlik Sense Printing Service', tier: 3, ports: [4899], requires: ['QlikSenseRepositoryService'], exe: 'Printing\\Printing.exe' },
];

export const DATABASE_SERVICES: Record<DatabaseServiceName, { display: string; account: string }> = {
  QlikSenseRepositoryDatabase: { display: 'Qlik Sense Repository Database', account: 'Local System' },
  'postgresql-x64-14': { display: 'postgresql-x64-14', account: 'Network Service' }, // guide §2.6
};

export function isDatabaseService(name: string): name is DatabaseServiceName {
  return name in DATABASE_SERVICES;
}

export function serviceFact(name: string): ServiceFact | undefined {
  return QLIK_SERVICES.find((s) => s.name === name || s.abbr === name.toUpperCase());
}

/**
 * The Qlik services named by --service (full names in any case, or the abbreviations QSD, QRS, ...). An unknown
 * name is bad input: a typo such as QSR for QRS must not pass as "nothing to do".
 */
export function resolveServiceNames(names: string[]): QlikServiceName[] {
  const known = QLIK_SERVICES.filter((s) => !isDatabaseService(s.name));
  return names.map((n) => {
    const fact = known.find((s) => s.name.toLowerCase() === n.trim().toLowerCase() || s.abbr === n.trim().toUpperCase());
    if (!fact) {
      throw new InputError(
        `unknown service "${n}"`,
        `--service takes one of ${known.map((s) => s.abbr).join(', ')} or a full name such as ${known[1].name}`,
      );
    }
    return fact.name as QlikServiceName;
  });
}

/** Qlik services in start order (tiers ascending); stop order is the reverse. */
export function startOrder(names: QlikServiceName[]): QlikServiceName[][] {
  const tiers = new Map<number, QlikServiceName[]>();
  for (const n of names) {
    const fact = serviceFact(n);
    if (!fact) throw new Error(`unknown Qlik service ${n}`);
    tiers.set(fact.tier, [...(tiers.get(fact.tier) ?? []), n]);
  }
  return [...tiers.keys()].sort((a, b) => a - b).map((t) => tiers.get(t)!);
}

export const ALL_QLIK_SERVICES = QLIK_SERVICES.map((s) => s.name as QlikServiceName);
