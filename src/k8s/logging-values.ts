// The seed's logging stack (003, §13.3) installs Elasticsearch as "a minimum setup ... that does not include any
// persistence": master.persistence.enabled: false and data.persistence.enabled: false in elasticsearch.yaml, at the
// top level of the elasticsearch chart's values. The same keys can sit under an `elasticsearch:` key when the chart
// is pulled in as a subchart. Without persistence the log data lives in the pods: deleted or rescheduled, it is gone.
import type { HelmRelease } from './types.js';

export interface LoggingWarning {
  kind: 'logging-not-persistent';
  release: string;
  chart: string;
  /** The dotted keys found set to false, e.g. "master.persistence.enabled" or "elasticsearch.data.persistence.enabled". */
  keys: string[];
  message: string;
  hint: string;
}

type Values = Record<string, unknown>;

const isObject = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);

// values[role].persistence.enabled, when it is set to false.
function persistenceOff(values: Values, role: 'master' | 'data'): boolean {
  const r = values[role];
  return isObject(r) && isObject(r.persistence) && r.persistence.enabled === false;
}

/** A warning when a release's values turn Elasticsearch persistence off (top level or under `elasticsearch`). */
export function checkLoggingValues(release: HelmRelease, values: unknown): LoggingWarning | null {
  if (!isObject(values)) return null; // `helm get values -o json` prints null when no values were supplied
  const places: [string, Values][] = [];
  // Top level: only for an Elasticsearch chart, or values shaped like one (both roles), so that another chart's
  // master.persistence (Redis, for one) is not taken for it.
  if (/elasticsearch/i.test(release.chart) || (isObject(values.master) && isObject(values.data))) places.push(['', values]);
  if (isObject(values.elasticsearch)) places.push(['elasticsearch.', values.elasticsearch]);
  const keys: string[] = [];
  for (const [prefix, v] of places) for (const role of ['master', 'data'] as const) if (persistenceOff(v, role)) keys.push(`${prefix}${role}.persistence.enabled`);
  if (!keys.length) return null;
  return {
    kind: 'logging-not-persistent',
    release: release.name,
    chart: release.chart,
    keys,
    message: `release ${release.name} (${release.chart}) runs Elasticsearch without persistence (${keys.map((k) => `${k}: false`).join(', ')}), the "minimum setup" of Qlik's logging example: log data is lost when those pods are deleted or rescheduled`,
    hint: `for logs you want to keep, set ${keys.map((k) => `${k}=true`).join(' and ')} (with a StorageClass that can bind the claims) and upgrade the release with helm; qsadmin changes nothing`,
  };
}
