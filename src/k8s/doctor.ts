// `qsadmin k8s doctor`: the seed's troubleshooting (003, §13.1) done for every Qlik Sense pod at once. List the
// pods (kubectl get pods), select Qlik's by label selector or name prefix (the seed names them only by prefix,
// qliksense-engine-...), and for each pod that is not healthy read its events and, for a crash loop, the previous
// container's last lines. Then read the helm releases' values for the seed's non-persistent Elasticsearch.
// Read-only: kubectl get and logs, helm list and get values; nothing on the cluster is changed.
import { diagnosePod, isHealthy, type PodReport } from './diagnose.js';
import { checkLoggingValues, type LoggingWarning } from './logging-values.js';
import { ToolFailedError, helmScope, kubectlScope, runTool, runToolJson, type K8sTarget } from './tools.js';
import type { HelmRelease, K8sEvent, K8sList, Pod } from './types.js';

/** The previous container's lines to show for a crash loop. */
export const PREVIOUS_LOG_LINES = 20;
export const DEFAULT_NAME_PREFIX = 'qliksense-';

export interface DoctorOptions extends K8sTarget {
  /** A kubectl label selector (-l); when given, no name prefix applies. */
  selector?: string;
  /** Pod name prefix; default qliksense- when no selector is given. */
  namePrefix?: string;
}

export interface ReleaseReport {
  name: string;
  namespace: string;
  revision: string;
  status: string;
  chart: string;
  appVersion: string | null;
  /** Why `helm get values` could not be read, when it could not. */
  valuesError?: string;
}

export interface DoctorResult {
  /** true: every selected pod healthy, no warning, at least one pod found. */
  ok: boolean;
  namespace: string;
  context: string | null;
  selection: { selector: string } | { namePrefix: string };
  pods: PodReport[];
  releases: ReleaseReport[];
  warnings: LoggingWarning[];
  /** Pods that need attention (not healthy). */
  unhealthy: number;
}

/** Examine the selected pods and the helm releases of a namespace; throws the tools' errors (exit 2 or 1). */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorResult> {
  const kScope = kubectlScope(opts);
  const prefix = opts.selector ? null : (opts.namePrefix ?? DEFAULT_NAME_PREFIX);
  const selection = prefix === null ? { selector: opts.selector! } : { namePrefix: prefix };

  const list = await runToolJson<K8sList<Pod>>('kubectl', ['get', 'pods', ...kScope, '-o', 'json', ...(opts.selector ? ['-l', opts.selector] : [])], opts);
  const pods = (list.items ?? [])
    .filter((p) => prefix === null || p.metadata.name.startsWith(prefix))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

  const reports: PodReport[] = [];
  for (const pod of pods) {
    if (isHealthy(pod)) {
      reports.push(diagnosePod(pod, [], opts.namespace));
      continue;
    }
    const events = await runToolJson<K8sList<K8sEvent>>('kubectl', ['get', 'events', ...kScope, '-o', 'json', '--field-selector', `involvedObject.name=${pod.metadata.name}`], opts);
    const report = diagnosePod(pod, events.items ?? [], opts.namespace);
    for (const d of report.diagnoses) {
      if (d.kind !== 'crash-loop' || !d.container) continue;
      try {
        const out = await runTool('kubectl', ['logs', pod.metadata.name, ...kScope, '-c', d.container, '--previous', '--tail', String(PREVIOUS_LOG_LINES)], opts);
        const text = out.replace(/(\r?\n)+$/, '');
        d.previousLog = text ? text.split(/\r?\n/) : [];
      } catch (e) {
        if (!(e instanceof ToolFailedError)) throw e;
        d.previousLogError = e.stderr.trim() || e.message; // e.g. no previous container yet
      }
    }
    reports.push(report);
  }

  const hScope = helmScope(opts);
  const releases = await runToolJson<HelmRelease[] | null>('helm', ['list', ...hScope, '-o', 'json'], opts);
  const releaseReports: ReleaseReport[] = [];
  const warnings: LoggingWarning[] = [];
  for (const r of releases ?? []) {
    const report: ReleaseReport = { name: r.name, namespace: r.namespace, revision: String(r.revision), status: r.status, chart: r.chart, appVersion: r.app_version || null };
    try {
      const values = await runToolJson<unknown>('helm', ['get', 'values', r.name, ...hScope, '-o', 'json'], opts);
      const w = checkLoggingValues(r, values);
      if (w) warnings.push(w);
    } catch (e) {
      if (!(e instanceof ToolFailedError)) throw e;
      report.valuesError = e.stderr.trim() || e.message;
    }
    releaseReports.push(report);
  }

  const unhealthy = reports.filter((p) => p.verdict !== 'healthy' && p.verdict !== 'completed').length;
  return {
    ok: reports.length > 0 && unhealthy === 0 && warnings.length === 0,
    namespace: opts.namespace,
    context: opts.context ?? null,
    selection,
    pods: reports,
    releases: releaseReports,
    warnings,
    unhealthy,
  };
}
