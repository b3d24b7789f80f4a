// Judging one pod and explaining it. Health comes from the containers, not the phase alone: a container in
// CrashLoopBackOff usually sits in a pod whose phase is Running. The explanations follow the seed (003, §13.1):
// a pod that does not start has either volume claims that are not available (storage) or no node with room for
// it, in resources or in the number of pods a node may run ("unschedulable"); a container that keeps exiting is
// explained by its previous instance's last log lines; anything else shows the pod's events as they are.
import type { ContainerStatus, K8sEvent, Pod } from './types.js';

export type DiagnosisKind = 'storage' | 'unschedulable' | 'crash-loop' | 'other';
export type Verdict = 'healthy' | 'completed' | DiagnosisKind;
/** Why the scheduler found no node: not enough of a resource, or the nodes' pod limit. */
export type UnschedulableCause = 'resources' | 'pod-count';

export interface EventSummary {
  type: string;
  reason: string;
  message: string;
  count: number;
  last: string | null;
}

export interface Diagnosis {
  kind: DiagnosisKind;
  /** One line: what is wrong. */
  summary: string;
  /** What to do about it (qsadmin changes nothing on the cluster). */
  hint: string;
  /** The condition and event messages the summary rests on. */
  evidence: string[];
  causes?: UnschedulableCause[];
  /** Resources the scheduler found too little of (cpu, memory, ...). */
  insufficient?: string[];
  container?: string;
  lastTermination?: { reason?: string; exitCode?: number; finishedAt?: string };
  /** The previous container's last log lines (crash-loop), or why they could not be read. */
  previousLog?: string[];
  previousLogError?: string;
  /** The pod's events as kubectl returned them, newest first ("other"). */
  events?: EventSummary[];
}

export interface PodReport {
  name: string;
  phase: string;
  ready: { ready: number; total: number };
  restarts: number;
  verdict: Verdict;
  diagnoses: Diagnosis[];
}

// Scheduler and kubelet wording for a claim that cannot be satisfied (kube-scheduler VolumeBinding plugin, kubelet).
const STORAGE = [
  /unbound immediate PersistentVolumeClaims/i,
  /pod has unbound PersistentVolumeClaims/i,
  /persistentvolumeclaim "[^"]*" not found/i,
  /persistentvolumeclaim "[^"]*" is being deleted/i,
  /volume node affinity conflict/i,
  /didn't find available persistent volumes to bind/i,
];
const STORAGE_EVENTS = new Set(['FailedMount', 'FailedAttachVolume', 'ProvisioningFailed']);

/** The line kubectl get pods would print: phase, ready containers, restarts. */
export function podLine(pod: Pod): Pick<PodReport, 'name' | 'phase' | 'ready' | 'restarts'> {
  const statuses = pod.status?.containerStatuses ?? [];
  const total = pod.spec?.containers?.length ?? statuses.length;
  return {
    name: pod.metadata.name,
    phase: pod.status?.phase ?? 'Unknown',
    ready: { ready: statuses.filter((s) => s.ready).length, total },
    restarts: statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0),
  };
}

/** Healthy: Running with every container ready, or Succeeded (a finished job). */
export function isHealthy(pod: Pod): boolean {
  const line = podLine(pod);
  if (line.phase === 'Succeeded') return true;
  return line.phase === 'Running' && line.ready.total > 0 && line.ready.ready === line.ready.total;
}

/** The events of this pod, newest first, in a short form. */
export function summarizeEvents(pod: string, events: K8sEvent[]): EventSummary[] {
  return events
    .filter((e) => !e.involvedObject?.name || e.involvedObject.name === pod)
    .map((e) => ({
      type: e.type ?? 'Normal',
      reason: e.reason ?? '',
      message: (e.message ?? '').trim(),
      count: e.count ?? 1,
      last: e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? null,
    }))
    .sort((a, b) => (b.last ?? '').localeCompare(a.last ?? ''));
}

/** Judge a pod and explain what is wrong with it; `namespace` goes into the hints' commands. */
export function diagnosePod(pod: Pod, events: K8sEvent[], namespace: string): PodReport {
  const line = podLine(pod);
  if (isHealthy(pod)) return { ...line, verdict: line.phase === 'Succeeded' ? 'completed' : 'healthy', diagnoses: [] };
  const evs = summarizeEvents(line.name, events);
  const diagnoses = [...crashLoops(pod), ...placement(pod, evs, namespace)];
  if (!diagnoses.length) diagnoses.push(other(pod, evs));
  return { ...line, verdict: diagnoses[0].kind, diagnoses };
}

// Containers (init containers too) that Kubernetes keeps restarting.
function crashLoops(pod: Pod): Diagnosis[] {
  const out: Diagnosis[] = [];
  const all: [ContainerStatus, boolean][] = [
    ...(pod.status?.initContainerStatuses ?? []).map((s): [ContainerStatus, boolean] => [s, true]),
    ...(pod.status?.containerStatuses ?? []).map((s): [ContainerStatus, boolean] => [s, false]),
  ];
  for (const [s, init] of all) {
    if (s.state?.waiting?.reason !== 'CrashLoopBackOff') continue;
    const last = s.lastState?.terminated;
    const lastText = last ? `; last exit: ${last.reason ?? 'terminated'}, code ${last.exitCode ?? '?'}${last.finishedAt ? ` at ${last.finishedAt}` : ''}` : '';
    const oom = last?.reason === 'OOMKilled';
    out.push({
      kind: 'crash-loop',
      container: s.name,
      summary: `${init ? 'init container' : 'container'} ${s.name} keeps exiting and is restarted (CrashLoopBackOff, ${s.restartCount ?? 0} restarts${lastText})`,
      hint: oom
        ? `the container ran out of memory (OOMKilled): raise its memory limit (resources.limits.memory in the release's values) or give the node more memory`
        : `the previous container's last lines say why it exits; more with: kubectl logs ${pod.metadata.name} -c ${s.name} --previous`,
      evidence: [s.state.waiting.message, last?.message].filter((m): m is string => !!m),
      lastTermination: last ? { reason: last.reason, exitCode: last.exitCode, finishedAt: last.finishedAt } : undefined,
    });
  }
  return out;
}

// The scheduler's and kubelet's reasons that the pod has no node, or no volume on it.
function placement(pod: Pod, evs: EventSummary[], namespace: string): Diagnosis[] {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const unscheduled = scheduled?.status === 'False';
  const messages: string[] = [];
  const placementEvents = evs.filter((e) => e.reason === 'FailedScheduling' || STORAGE_EVENTS.has(e.reason));
  for (const e of placementEvents) messages.push(`${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`);
  // the condition repeats the latest FailedScheduling message; show it only when it says something else
  if (unscheduled && scheduled?.message && !placementEvents.some((e) => e.message === scheduled.message)) {
    messages.unshift(`PodScheduled=False (${scheduled.reason ?? 'no reason'}): ${scheduled.message}`);
  }
  const evidence = [...new Set(messages)];
  const out: Diagnosis[] = [];

  const storage = evidence.filter((m) => STORAGE.some((re) => re.test(m)) || [...STORAGE_EVENTS].some((r) => m.startsWith(r)));
  if (storage.length) {
    out.push({
      kind: 'storage',
      summary: 'its volume claims are not available: a PersistentVolumeClaim is not bound to a volume (or cannot be mounted)',
      hint: `see the claims with: kubectl get pvc -n ${namespace}; a Pending claim needs a StorageClass that can provision it (or a default one), or a volume that matches it; then the pod is scheduled by itself`,
      evidence: storage,
    });
  }

  const scheduling = evidence.filter((m) => m.startsWith('PodScheduled') || m.startsWith('FailedScheduling'));
  // resource names may hold dots and slashes (nvidia.com/gpu); the sentence's full stop is not part of one
  const insufficient = [...new Set(scheduling.flatMap((m) => [...m.matchAll(/Insufficient ([\w-]+(?:[./][\w-]+)*)/g)].map((x) => x[1])))];
  const tooMany = scheduling.some((m) => /Too many pods/i.test(m));
  const causes: UnschedulableCause[] = [...(insufficient.length ? ['resources' as const] : []), ...(tooMany ? ['pod-count' as const] : [])];
  if (causes.length) {
    const what: string[] = [];
    const hints: string[] = [];
    if (insufficient.length) {
      what.push(`no node has enough ${insufficient.join(', ')} free for its requests`);
      hints.push(`add a node (or larger nodes), or lower the pod's requests (resources.requests in the release's values); allocated resources per node: kubectl describe nodes`);
    }
    if (tooMany) {
      what.push('the nodes already run as many pods as they may (Too many pods)');
      hints.push(`every node has reached its pod limit (the kubelet's maxPods; on some providers it follows from the node size): add a node, or raise the limit where the provider allows it`);
    }
    out.push({ kind: 'unschedulable', causes, insufficient: insufficient.length ? insufficient : undefined, summary: `${what.join('; ')}`, hint: hints.join('; '), evidence: scheduling });
  } else if (unscheduled && !storage.length) {
    out.push({
      kind: 'unschedulable',
      causes: [],
      summary: `the scheduler placed it on no node: ${scheduled?.message ?? scheduled?.reason ?? 'no reason given'}`,
      hint: `the scheduler's reasons are above (node selectors, affinity, taints); kubectl describe pod ${pod.metadata.name} -n ${namespace} shows the same`,
      evidence: scheduling,
    });
  }
  return out;
}

// Not one of the seed's cases: say what the containers and the pod report, and show the events as they are.
function other(pod: Pod, evs: EventSummary[]): Diagnosis {
  const facts: string[] = [];
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    if (s.state?.waiting) facts.push(`container ${s.name} waiting: ${s.state.waiting.reason ?? 'no reason'}${s.state.waiting.message ? ` (${s.state.waiting.message})` : ''}`);
    else if (s.state?.terminated) facts.push(`container ${s.name} terminated: ${s.state.terminated.reason ?? 'no reason'}, code ${s.state.terminated.exitCode ?? '?'}`);
    else if (s.ready === false) facts.push(`container ${s.name} running but not ready`);
  }
  if (pod.status?.reason || pod.status?.message) facts.unshift(`pod ${pod.status.phase ?? ''} ${pod.status.reason ?? ''}${pod.status.message ? `: ${pod.status.message}` : ''}`.replace(/\s+/g, ' ').trim());
  const notReady = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True');
  if (!facts.length && notReady) facts.push(`not ready${notReady.message ? `: ${notReady.message}` : ''}`);
  if (!facts.length) facts.push(`phase ${pod.status?.phase ?? 'Unknown'}`);
  return {
    kind: 'other',
    summary: facts.join('; '),
    hint: evs.length ? `the pod's events are below, as Kubernetes reports them; kubectl describe pod ${pod.metadata.name} shows more` : `Kubernetes reports no events for it (events expire after an hour by default); kubectl describe pod ${pod.metadata.name} shows the rest`,
    evidence: [],
    events: evs,
  };
}
